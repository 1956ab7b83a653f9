"""`bench parse`: one log file in, the window throughput out (exit 0 for ok, 1 otherwise, 2 usage)."""

import json
from pathlib import Path

import typer

from bench.cli.options import count, parse_window
from bench.errors import BenchError
from bench.numbers import sig3
from bench.paths import output_dir
from bench.vocabulary import MAX_DEVICES, MAX_IMAGES_PER_ITER, BatchStrength, LogFormat


# The window hint tries the last few printed iterations as its end, and the first few grid points as its
# start (a bounded search: it runs only when the window failed).
HINT_ENDS, HINT_STARTS = 3, 20


def list_formats(wanted: bool) -> None:
    """`--list-formats`: every format bench reads, what its printed time means and where that is defined."""
    if not wanted:
        return
    from rich.table import Table

    from bench.cli.output import console

    from bench.logs.registry import parser_class

    table = Table(title="log formats (auto-detection tries them in this order)")
    for column in ("format", "trainer output", "time semantics", "what the printed time is"):
        table.add_column(column, overflow="fold")
    for fmt in LogFormat:
        parser = parser_class(fmt)
        table.add_row(fmt.value, parser.title, parser.semantics.value, parser.time_meaning)
    console().print(table)
    raise typer.Exit(0)


def parse(
    log: Path = typer.Argument(..., help="The log file (plain or gzip-compressed)."),
    format_name: str = typer.Option("auto", "--format", "-f", help="Log format name, or 'auto'."),
    images_per_iter: int = typer.Option(None, "--images-per-iter", "-n",
                                        help="Images per iteration (global, all GPUs); needed where the "
                                             "log does not print its batch or prints one that is not "
                                             "evidence; overrules an inferred batch, not a definitive one."),
    window: str = typer.Option("100:500", "--window", "-w", help="Iterations A:B (the A+1th to the Bth)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    record: Path = typer.Option(None, "--record", help="Also write a run record into this run directory "
                                "(results/runs/<run-id>), with a copy of the log."),
    name: str = typer.Option(None, "--name", help="With --record: the implementation (a recipe name fills in "
                             "framework, commit, reference and GPU count); default: the log format."),
    gpus: int = typer.Option(None, "--gpus",
                             help="With --record: GPUs the run used (default: the recipe's)."),
    gpu_model: str = typer.Option(None, "--gpu-model",
                                  help="With --record: GPU model, e.g. 'Tesla V100-SXM2-16GB'."),
    preset: str = typer.Option(None, "--preset", help="With --record: the preset it ran with (a smoke preset "
                               "makes the row not comparable with the published table)."),
    _formats: bool = typer.Option(False, "--list-formats", is_eager=True, callback=list_formats,
                                  help="List the log formats, what each one's printed time means, and exit."),
) -> None:
    """Measure the window throughput from an existing log."""
    from bench.measure.assess import measure, note_damage, read_log
    from bench.measure.batch import choose_for_parse

    if not log.is_file():
        raise BenchError(f"{log}: no such file")
    span = parse_window(window)
    count(images_per_iter, "--images-per-iter", 1, MAX_IMAGES_PER_ITER)
    count(gpus, "--gpus", 1, MAX_DEVICES)
    if record is not None:
        record = output_dir(record, "--record")
    if format_name == "auto":
        from bench.logs.detect import detect_format

        format_name = detect_format(log)
    elif format_name not in LogFormat.values():
        raise BenchError(f"--format {format_name!r}: unknown; known: auto, "
                         f"{', '.join(LogFormat.values())}")
    parser, damage = read_log(log, format_name)
    batch = choose_for_parse(parser.batch, images_per_iter, log)
    if batch.note is not None:
        typer.echo(f"warning: {batch.note}", err=True)
    measurement = measure(parser, batch.images_per_iter, span)
    measurement.images_per_iter_source = batch.source
    measurement.batch_evidence = batch.evidence
    note_damage(measurement, damage)
    if damage is not None:
        typer.echo(damage, err=True)
    if record is not None:
        from bench.records.imported import record_from_log

        path = record_from_log(log, parser, measurement, record, name=name, gpus=gpus, gpu_model=gpu_model,
                               preset=preset)
        typer.echo(f"record written: {path}", err=True)
    if as_json:
        typer.echo(json.dumps(measurement.to_json(), indent=2, allow_nan=False))
    else:
        _print_human(log, measurement)
    hint = window_hint(parser, batch.images_per_iter, span) if measurement.throughput_img_s is None else None
    if hint is not None:
        typer.echo(hint, err=True)
    raise typer.Exit(0 if measurement.throughput_img_s is not None else 1)


def window_hint(parser, images: int, window: tuple[int, int]) -> str | None:
    """When the log's progress lines do not reach the window (a smoke run's log against the default 100:500):
    the widest window on their grid that measures, as a --window to try."""
    from bench.measure.assess import measure, split_segments

    segments = split_segments(parser.records)
    if not segments or len(segments[-1]) < 2:
        return None
    records = segments[-1]
    if records[0].iteration <= window[0] and window[1] <= records[-1].iteration:
        return None  # covered: the window failed for another reason, which the status line gives
    ends = sorted({r.iteration for r in records}, reverse=True)[:HINT_ENDS]
    starts = sorted({r.span_start for r in records} | {r.iteration for r in records})[:HINT_STARTS]
    best: tuple[int, int] | None = None
    for end in ends:
        start = next((a for a in starts
                      if a < end and measure(parser, images, (a, end)).throughput_img_s is not None), None)
        if start is not None and (best is None or end - start > best[1] - best[0]):
            best = (start, end)
    if best is None:
        return None
    start, end = best
    covered = f"{records[0].iteration}-{records[-1].iteration}"
    return (f"hint: the log's progress lines cover iterations {covered}: pass a window inside them, e.g. "
            f"--window {start}:{end} (the widest on their grid; a later start leaves the warm-up out)")


def _bold(text: object) -> str:
    return typer.style(str(text), bold=True)


def _print_human(log: Path, m) -> None:
    """The measurement in a few lines: bold on a terminal; elsewhere typer.echo drops the styles, and no line
    is wrapped."""
    r = m.result
    typer.echo(f"{_bold(log)} ({m.format}): status {_bold(m.status.value)}"
               + (f" - {m.reason}" if m.reason else ""))
    typer.echo(f"  images/iter    {m.images_per_iter} ({m.images_per_iter_source})")
    if m.batch_evidence is not None and m.batch_evidence.strength is not BatchStrength.DEFINITIVE:
        typer.echo(f"  batch evidence {m.batch_evidence.strength}: {m.batch_evidence.rule}")
    if r is not None:
        typer.echo(f"  window used    iterations {r.start + 1}-{r.end} ({r.iterations} iterations, "
                   f"{r.images} images)")
        typer.echo(f"  wall time      {r.seconds:.3f} s  ({r.method})")
    if m.throughput_img_s is not None:
        typer.echo(f"  throughput     {_bold(sig3(m.throughput_img_s) + ' img/s')}")
    for w in m.warnings:
        typer.echo(f"  {typer.style('warning', fg='yellow')}: {w.message}. Remedy: {w.remedy}")
