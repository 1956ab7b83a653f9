"""`bench run NAME|all`: launch an implementation, watch its log, stop it after the window, record the run.

Exit status: 0 when every run is ok, 1 when one is not, 130 when bench was interrupted, 2 for usage errors."""

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bench.cli.options import count, member_sources, optional_window, seconds
from bench.errors import BenchError
from bench.numbers import sig3
from bench.vocabulary import MAX_DEVICES, MAX_NODES, EnvVar, RunStatus

if TYPE_CHECKING:
    from bench.launch.watch import StopRequest


def _say(message: str, err: bool = False) -> None:
    typer.echo(message, err=err)


def _summary(run_dir: Path, record) -> str:
    ft, hc = record.framework_timing, record.harness_clock
    line = f"{record.implementation}: {record.status.value}"
    if record.status is RunStatus.OK and ft.throughput_img_s is not None:
        line += f"  {sig3(ft.throughput_img_s)} img/s over iterations {ft.window[0] + 1}-{ft.window[1]}"
        if hc is not None and hc.throughput_img_s is not None:
            line += (f" (harness clock {sig3(hc.throughput_img_s)} img/s, "
                     f"{record.clock_difference_pct:.2f} % apart)")
    elif record.reason:
        line += f" - {record.reason}"
    line += f"\n  record: {run_dir / 'record.json'}" + _telemetry_line(record)
    for w in record.warnings:
        line += f"\n  warning: {w.message}. Remedy: {w.remedy}"
    return line


def _telemetry_line(record) -> str:
    """What the sampler saw over the window, in one line (nothing without telemetry)."""
    t = record.telemetry
    if t is None:
        return ""
    if t.window is None:
        return f"\n  telemetry: no window summary ({t.window_missing})"
    w, parts = t.window, []
    if w.host is not None and w.host.cpu_percent_mean is not None:
        parts.append(f"trainer CPU {w.host.cpu_percent_mean:.0f} % (100 = one core)")
    if w.energy_j is not None:
        parts.append(f"GPU energy {w.energy_j:.4g} J, {w.images_per_joule:.3g} img/J")
    elif t.gpu_unavailable:
        parts.append(f"no GPU numbers: {t.gpu_unavailable}")
    return f"\n  telemetry: {'; '.join(parts)} ({t.sampler.samples} samples in the window)"


def _summary_json(run_dir: Path, record) -> str:
    """The run as one JSON object: the row `bench export` writes for it."""
    from bench.files import json_text
    from bench.report.export import flat

    return json_text(flat(run_dir, record, {}), sort_keys=True)


def run_one(name: str | None, recipe_file: Path | None, options, repeat: int, dry_run: bool,
            stop: "StopRequest", as_json: bool = False) -> list:
    """Run one recipe `repeat` times; returns the records (empty for a dry run)."""
    from bench.pipeline.run import dry_run_steps, execute, load, resolve
    from bench.measure.stats import summarize

    recipe, path = load(name, recipe_file)
    plan = resolve(recipe, path, options, check_gpus=not dry_run)
    if dry_run:
        for step in dry_run_steps(plan):
            _say(step)
        if repeat > 1:
            _say(f"repeat   {repeat} times, one repeat group")
        return []
    for note in plan.notes:
        _say(f"{recipe.name}: {note}", err=True)
    if repeat > 1:
        options.repeat_group = f"{recipe.name}-{uuid.uuid4().hex[:12]}"
    records = []
    for index in range(repeat):
        if repeat > 1:
            _say(f"{recipe.name}: run {index + 1} of {repeat}", err=True)
        run_dir, record = execute(plan, stop)
        records.append(record)
        _say(_summary_json(run_dir, record) if as_json else _summary(run_dir, record))
        if stop.reason is not None:
            break
    if repeat > 1:
        values = [r.framework_timing.throughput_img_s for r in records if r.status is RunStatus.OK]
        summary = summarize([v for v in values if v is not None])
        _say(f"{recipe.name}: repeat group {options.repeat_group}: "
             + (summary.describe() if summary else "no run measured the window")
             + (f"; {len(records) - len(values)} run(s) not ok" if len(values) < len(records) else ""),
             err=as_json)
    return records


def _targets(name: str | None, stale: bool, preset: str | None) -> list[tuple[str, str | None]]:
    """(recipe, preset) pairs for `all` or `--stale` (the latest row of each recipe and preset, if stale)."""
    if stale:
        from bench.cli.report import warn_skipped
        from bench.records.provenance import stale_rows
        from bench.records.store import load_records

        records = load_records()
        warn_skipped(records.skipped)
        rows = stale_rows(record for _, record in records)
        rows = [(n, p) for n, p in rows if name in (None, "all", n)]
        if not rows:
            _say("no stale rows: every latest record matches its recipe and patches")
        return rows
    from bench.recipes.loader import recipe_files

    return [(path.stem, preset) for path in recipe_files()]


def slurm_options(**given):
    """A SlurmRun when any Slurm option was given (None otherwise: `--launcher slurm` alone takes the
    defaults)."""
    if all(value is None for value in given.values()):
        return None
    from bench.slurm.render import SlurmRun

    return SlurmRun(**{key: value for key, value in given.items() if value is not None})


def run(
    name: str = typer.Argument(None, help="Recipe name (see `bench list`), or 'all'."),
    gpus: int = typer.Option(None, "--gpus", help="GPUs to use (fills {gpus}); 0 runs on CPU."),
    procs: int = typer.Option(None, "--procs", help="On the CPU (--gpus 0, a CPU preset): training processes "
                              "per node, through the framework's own launcher with gloo (fills {procs}; "
                              "default 1)."),
    data: Path = typer.Option(None, "--data", help="COCO-format dataset directory (fills {data})."),
    window: str = typer.Option(None, "--window", help="Iterations A:B to measure (default: the recipe's)."),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Run K times; print the median and spread."),
    timeout: float = typer.Option(None, "--timeout", help="Stop the run after S seconds (status timeout)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the exact steps and run nothing."),
    recipe: Path = typer.Option(None, "--recipe", help="A recipe file that is not in recipes/."),
    preset: str = typer.Option(None, "--preset", help="A preset of the recipe (e.g. smoke)."),
    source: str = typer.Option(None, "--source", help="Clone from this URL or path (a mirror) instead."),
    keep_going: bool = typer.Option(False, "--keep-going", help="With 'all': go on after a failed run."),
    grace: float = typer.Option(10.0, "--grace", help="Seconds between SIGTERM and SIGKILL when stopping."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Live display on a terminal."),
    stale: bool = typer.Option(False, "--stale", help="Re-run only the rows `bench table` marks stale (each "
                               "with its preset), or, with NAME, only that recipe's stale rows."),
    no_env: bool = typer.Option(False, "--no-env", help="Skip the recipe's install steps: this Python (e.g. "
                                "a container image's) already provides the stack."),
    launcher: str = typer.Option(None, "--launcher", help="Where the trainer runs: local (default), docker "
                                 "or podman (the recipe's image), or slurm (a batch job); default from "
                                 "BENCH_LAUNCHER."),
    as_json: bool = typer.Option(False, "--json", help="Print each run's summary as one JSON object (the row "
                                 "`bench export` writes) instead of text."),
    image: str = typer.Option(None, "--image", help="With a container launcher: the image (default: the "
                              "recipe's stack image under BENCH_REGISTRY or localhost)."),
    partition: str = typer.Option(None, "--partition", help="Slurm: the partition."),
    nodes: int = typer.Option(None, "--nodes", help="Slurm: nodes (one task each, the framework's multi-node "
                              "launch)."),
    gpus_per_node: int = typer.Option(None, "--gpus-per-node", help="Slurm: GPUs per node (default: --gpus, "
                                      "else the recipe's)."),
    time_limit: str = typer.Option(None, "--time", help="Slurm: the job's time limit (sbatch's syntax)."),
    account: str = typer.Option(None, "--account", help="Slurm: the account to charge."),
    container_image: str = typer.Option(None, "--container-image", help="Slurm: run the tasks in this image "
                                        "(pyxis/enroot)."),
    suite: str = typer.Option(None, "--suite", help="Run every member of a comparison suite (e.g. current), "
                              "repeats interleaved A B C A B C; --preset picks the suite's preset (default "
                              "smoke)."),
    only: str = typer.Option(None, "--only", help="With --suite: only these members (comma-separated)."),
    scale: str = typer.Option(None, "--scale", help="Measure at these device counts (e.g. 1,2,4,8: GPUs per "
                              "node, or CPU processes on a CPU run), one record each; print img/s per device "
                              "and the scaling efficiency."),
    telemetry: bool = typer.Option(True, "--telemetry/--no-telemetry", help="Sample the GPUs (NVML) and the "
                                   "trainer's CPU and memory beside the run, 12 times a second."),
    bundle: Path = typer.Option(None, "--bundle", envvar=EnvVar.BUNDLE, help="Set up from this offline "
                                "bundle (`bench bundle`) only: every file verified and the bundle matched to "
                                "this machine before anything starts; no network."),
) -> None:
    """Launch an implementation, watch its log live, stop it after the window, and record the run."""
    from bench.launch.watch import StopRequest, stop_on_signals
    from bench.pipeline.run import RunOptions

    timeout, grace = seconds(timeout, "--timeout", zero=False), seconds(grace, "--grace", zero=True)
    gpus, gpus_per_node = count(gpus, "--gpus", 0, MAX_DEVICES), count(gpus_per_node, "--gpus-per-node", 0,
                                                                       MAX_DEVICES)
    nodes, procs = count(nodes, "--nodes", 1, MAX_NODES), count(procs, "--procs", 1, MAX_DEVICES)

    if suite is not None:
        return _run_suite_command(suite, only, name, repeat, dry_run, bundle, gpus=gpus, data=data,
                                  timeout=timeout, preset=preset, source=source, grace=grace,
                                  progress=progress, own_python=no_env, procs=procs, telemetry=telemetry)
    if name is None and recipe is None and not stale:
        raise BenchError("name a recipe (see `bench list`), 'all', or give --recipe FILE or --stale")
    opened = None
    if bundle is not None:
        opened, preset = _open_bundle_for(name, recipe, stale, source, bundle, preset, dry_run)
    options = RunOptions(gpus=gpus, procs=procs, data=data, window=optional_window(window), timeout=timeout,
                         preset=preset, source=source, grace=grace, progress=progress, own_python=no_env,
                         telemetry=telemetry, image=image,
                         launcher=launcher or os.environ.get(EnvVar.LAUNCHER) or "local", bundle=opened,
                         slurm=slurm_options(nodes=nodes, gpus_per_node=gpus_per_node, partition=partition,
                                             time=time_limit, account=account,
                                             container_image=container_image))
    stop = StopRequest()
    records, failed = [], []
    with stop_on_signals(stop):
        if scale is not None:
            records = _run_scale_command(name, recipe, options, scale, repeat, dry_run, stop)
        elif (name == "all" or stale) and recipe is None:
            for target, target_preset in _targets(name, stale, preset):
                try:
                    done = run_one(target, None, RunOptions(**{**vars(options), "preset": target_preset}),
                                   repeat, dry_run, stop, as_json)
                except BenchError as exc:
                    if not keep_going:
                        raise
                    _say(f"{target}: error: {exc}", err=True)
                    failed.append(target)
                    continue
                records += done
                if stop.reason is not None or (not keep_going
                                               and any(r.status is not RunStatus.OK for r in done)):
                    break
        else:
            records = run_one(name, recipe, options, repeat, dry_run, stop, as_json)
    if stop.reason is not None:
        raise typer.Exit(130)
    if failed or any(r.status is not RunStatus.OK for r in records):
        raise typer.Exit(1)


def _run_scale_command(name: str | None, recipe_file: Path | None, options, counts: str, repeat: int,
                       dry_run: bool, stop: "StopRequest") -> list:
    """`bench run NAME --scale 1,2,4`: every count resolved first, run (interleaved rounds with --repeat),
    then the scaling table printed from the records."""
    from bench.pipeline.run import dry_run_steps, load
    from bench.pipeline.scale import parse_counts, run_scale, scale_plans

    if name == "all" or (name is None and recipe_file is None):
        raise BenchError("--scale measures one recipe: name it (or give --recipe FILE)")
    recipe, path = load(name, recipe_file)
    plans = scale_plans(recipe, path, options, parse_counts(counts), check=not dry_run)
    if dry_run:
        for plan in plans:
            _say(f"scale    {plan.world_size} device(s)")
            for step in dry_run_steps(plan):
                _say(step)
        return []
    records = run_scale(plans, repeat, stop, say=lambda text: _say(text, err=True))
    from bench.report.scaling_section import curves_table, measured_curves

    _say(curves_table(measured_curves(records), "Implementation"))
    return records


def _open_bundle_for(name: str | None, recipe: Path | None, stale: bool, source: str | None, bundle: Path,
                     preset: str | None, dry_run: bool):
    """`bench run NAME --bundle DIR`: the opened bundle and the preset (default: the bundle's)."""
    from bench.bundle.install import open_for_suite
    from bench.recipes.loader import recipe_path

    if recipe is not None or stale or name in (None, "all"):
        raise BenchError("--bundle runs one recipe by name, or a suite (--suite)")
    if source is not None:
        raise BenchError("--source with --bundle: the bundle carries the source")
    if dry_run:
        raise BenchError("--bundle with --dry-run: run the dry run without --bundle")
    opened, missing = open_for_suite(bundle, None, [name], preset, False, {name: (recipe_path(name), preset)})
    if missing:
        raise BenchError(f"{name}: not in the bundle {bundle}: {missing[name]}")
    return opened, preset or opened.bundle.manifest.preset


def _run_suite_command(suite: str, only: str | None, name: str | None, repeat: int, dry_run: bool,
                       bundle: Path | None, **values) -> None:
    from bench.launch.watch import StopRequest, stop_on_signals
    from bench.pipeline.run import RunOptions
    from bench.pipeline.suite import run_suite

    if name is not None:
        raise BenchError(f"--suite {suite} runs the suite's members: name no recipe ({name!r})")
    if dry_run:
        raise BenchError("--suite with --dry-run: run `bench run NAME --preset P --dry-run` for each member")
    sources = member_sources([values.pop("source") or ""])
    stop = StopRequest()
    with stop_on_signals(stop):
        records = run_suite(suite, RunOptions(**values), repeat, stop,
                            only=[m.strip() for m in only.split(",")] if only else None, say=_say,
                            sources=sources, bundle=bundle)
    if stop.reason is not None:
        raise typer.Exit(130)
    if any(r.status is not RunStatus.OK for r in records):
        raise typer.Exit(1)

