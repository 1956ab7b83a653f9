"""`bench table`: regenerate results/README.md and the plots from the run records (or check them)."""

from pathlib import Path

import typer

from bench.errors import BenchError
from bench.paths import output_file, results_dir, runs_dir


def warn_skipped(skipped: list[str]) -> None:
    """One warning line per record left out (its file and field), then how many, on stderr."""
    for line in skipped:
        typer.echo(f"warning: skipped {line}", err=True)
    if skipped:
        typer.echo(f"warning: {len(skipped)} record(s) skipped (unreadable or invalid); the rest were used",
                   err=True)


def _records(runs: Path | None):
    """The valid records under --runs (default results/runs); each invalid one named on stderr."""
    from bench.records.store import load_records

    records = load_records(_runs(runs))
    warn_skipped(records.skipped)
    return records


def table(
    runs: Path = typer.Option(None, "--runs", help="Directory of run directories (default: results/runs)."),
    out: Path = typer.Option(None, "--out", help="The results page to write (default: results/README.md); "
                             "the pages it links (suites.md, all-runs.md, mlperf.md) and the plots go beside "
                             "it."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when the table or a plot is out "
                               "of date, naming each."),
    replace: bool = typer.Option(False, "--replace", help="Let your own runs (records git has not committed) "
                                 "replace rows of the repository's committed table; without it bench table "
                                 "writes nothing then, and names them (exit 1)."),
) -> None:
    """Regenerate results/README.md, the pages beside it and the plots from the records (and, for the
    checkout's own results/, the answer in its README.md)."""
    runs = runs or runs_dir()
    out = output_file(out, "--out") if out is not None else results_dir() / "README.md"
    if not runs.is_dir() and runs != runs_dir():
        raise BenchError(f"--runs {runs}: no such directory")
    if not out.exists() and not any(runs.glob("*/record.json")):  # nothing to tabulate: create nothing
        typer.echo(f"no run records under {runs}: nothing to tabulate; `bench run NAME` (or `bench parse LOG "
                   "--record DIR`) writes one")
        return
    from bench.report.generate import build, out_of_date, write

    if check:
        outputs = build(runs, out, with_images=False)
        warn_skipped(outputs.skipped)
        problems = out_of_date(outputs)
        for line in problems:
            typer.echo(f"out of date: {line}")
        if problems:
            typer.echo("run `bench table` to regenerate", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: up to date")
        return
    from bench.recipes import load_all

    records, recipes = _records(runs), load_all()
    if not replace:
        _keep_published_rows(runs, out, records, recipes)
    changed = write(build(runs, out, recipes, records=records))
    for path in changed:
        typer.echo(f"{'removed' if not path.exists() else 'wrote'} {path}")
    if not changed:
        typer.echo(f"{out}: up to date (nothing to write)")


def _keep_published_rows(runs: Path, out: Path, records: list, recipes: list) -> None:
    """Exit 1, writing nothing, when `out` is the table git has committed and a record git has not (your own
    run) would take the place of one of its rows (docs/first-run.md, "Your runs and the published table")."""
    from bench.records.published import committed_runs, is_committed
    from bench.report.published import replaced_rows

    committed = committed_runs(runs)
    if committed is None or not is_committed(out):
        return
    replaced = replaced_rows(records, recipes, committed)
    if not replaced:
        return
    for replacement in replaced:
        typer.echo(f"bench table: {replacement.describe()}", err=True)
    typer.echo(f"bench table: nothing written: {out} is the repository's published table, and your run(s) "
               "would replace its rows above. To see your own table: bench table --out DIR/README.md; to "
               "publish your runs in it: bench table --replace", err=True)
    raise typer.Exit(1)


def _runs(runs: Path | None) -> Path:
    runs = runs or runs_dir()
    if not runs.is_dir() and runs != runs_dir():
        raise BenchError(f"--runs {runs}: no such directory")
    return runs


def export(
    format: str = typer.Option(..., "--format", help="json (with a versioned JSON Schema, `bench/report/"
                               "export.schema.json`) or csv."),
    runs: Path = typer.Option(None, "--runs", help="Directory of run directories (default: results/runs)."),
    out: Path = typer.Option(None, "--out", help="The file to write (default: standard output)."),
) -> None:
    """Every record flattened to one row: for spreadsheets, dashboards and other tools."""
    from bench.files import write_atomic
    from bench.recipes import load_all
    from bench.report.export import export_csv, export_json, flat

    if format not in ("json", "csv"):
        raise BenchError(f"--format {format!r}: choose json or csv")
    recipes = {r.name: r for r in load_all()}
    rows = [flat(directory, record, recipes) for directory, record in _records(runs)]
    text = export_json(rows) if format == "json" else export_csv(rows)
    if out is None:
        typer.echo(text, nl=False)
        return
    write_atomic(output_file(out, "--out"), text)
    typer.echo(f"wrote {out} ({len(rows)} rows)", err=True)


def history(
    name: str = typer.Argument(..., help="Implementation (recipe name, or an imported record's name)."),
    hardware: str = typer.Option(None, "--hardware", help="Only records whose hardware contains this text "
                                 "(e.g. H100, 'AMD EPYC')."),
    runs: Path = typer.Option(None, "--runs", help="Directory of run directories (default: results/runs)."),
    plot: Path = typer.Option(None, "--plot", help="The plot to write (default: results/history/NAME.png)."),
) -> None:
    """Every record of an implementation (on a hardware) over time, listed and plotted."""
    from bench.files import write_atomic
    from bench.numbers import sig3
    from bench.report.history import history as select, history_png
    from bench.report.rows import hardware_label, hardware_of

    records = select(_records(runs), name, hardware)
    for r in records:
        typer.echo(f"{r.created[:19]}  {r.run_id}  {hardware_label(*hardware_of(r))}  {r.status.value}  "
                   f"{sig3(r.throughput_img_s) or '-'} img/s  {r.preset or ''}  "
                   f"{r.repeat_group or ''}".rstrip())
    path = output_file(plot, "--plot") if plot else results_dir() / "history" / f"{_plain(name)}.png"
    write_atomic(path, history_png(name, records), root=None if plot else results_dir())
    typer.echo(f"plot: {path}")


def _plain(name: str) -> str:
    from bench.records.schema import RunId
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(RunId).validate_python(name)
    except ValidationError:
        raise BenchError(f"{name[:80]!r}: not a plain name for a file; give the output file") from None


baseline = typer.Typer(no_args_is_help=True, help="Baselines for `bench compare`.")


@baseline.command("save")
def baseline_save(
    name: str = typer.Argument(..., help="Implementation whose latest row (its repeat group) becomes the "
                               "baseline."),
    hardware: str = typer.Option(None, "--hardware", help="The hardware, when the implementation ran on "
                                 "several."),
    runs: Path = typer.Option(None, "--runs", help="Directory of run directories (default: results/runs)."),
    out: Path = typer.Option(None, "--out", help="The file to write (default: results/baselines/NAME.json)."),
) -> None:
    """Save the latest row of an implementation (its records, whole) as a baseline file."""
    from bench.files import write_atomic
    from bench.report.history import baseline_json, baseline_records

    records = baseline_records(_records(runs), name, hardware)
    path = output_file(out, "--out") if out else results_dir() / "baselines" / f"{_plain(name)}.json"
    write_atomic(path, baseline_json(name, records), root=None if out else results_dir())
    typer.echo(f"wrote {path} ({len(records)} record(s): {', '.join(r.run_id for r in records)})")


def compare(
    baseline_path: Path = typer.Argument(..., metavar="BASELINE", help="A record, a run directory, a "
                                         "directory of run directories (a repeat group), or a "
                                         "`bench baseline save` file."),
    new_path: Path = typer.Argument(..., metavar="NEW", help="The same kinds as BASELINE."),
    threshold: str = typer.Option("5%", "--threshold", help="A slow-down beyond this, if significant, "
                                  "fails."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as one JSON object."),
    allow_mismatch: bool = typer.Option(False, "--allow-mismatch", help="Compare even when the two sides are "
                                        "different implementations, presets or hardware (said in a note)."),
) -> None:
    """Compare two records or repeat groups; exit 1 on a significant regression past the threshold (CI)."""
    from bench.report.compare import compare as compared, load_group, parse_threshold

    limit = parse_threshold(threshold)
    base, new = load_group(baseline_path), load_group(new_path)
    warn_skipped([*base.skipped, *new.skipped])
    result = compared(base, new, limit, str(baseline_path), str(new_path), allow_mismatch)
    typer.echo(result.as_json() if as_json else result.describe())
    if result.regression:
        raise typer.Exit(1)


def report(
    html: Path = typer.Option(..., "--html", help="The directory to write the static site into."),
    runs: Path = typer.Option(None, "--runs", help="Directory of run directories (default: results/runs)."),
) -> None:
    """A static HTML site (no server, no external assets): the table, the plots, one page per run."""
    from bench.paths import output_dir
    from bench.recipes import load_all
    from bench.report.generate import summary_images
    from bench.report.html import write_site

    out = output_dir(html, "--html")
    records = _records(runs)
    recipes = load_all()
    written = write_site(out, records, recipes, summary_images(records, recipes))
    typer.echo(f"wrote {len(written)} files; open {out / 'index.html'}")
