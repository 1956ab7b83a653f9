"""`bench import`: run records from the logs of runs made elsewhere (MLPerf Training results)."""

from pathlib import Path

import typer

from bench.errors import BenchError
from bench.cli.options import parse_window
from bench.paths import runs_dir

app = typer.Typer(no_args_is_help=True, help="Import runs made elsewhere as run records.")


@app.command("mlperf")
def mlperf(
    path: Path = typer.Argument(..., help="A results folder: one system (<submitter>/results/<system>), a "
                                "submitter, or a whole training_results_v* checkout."),
    runs: Path = typer.Option(None, "--runs", help="Where the records go (default: results/runs)."),
    repo: str = typer.Option(None, "--repo", help="The results repository the logs are cited by, e.g. "
                             "https://github.com/mlcommons/training_results_v3.0 "
                             "(default: the checkout's origin)."),
    commit: str = typer.Option(None, "--commit",
                               help="Its commit, 40 hex digits (default: the checkout's HEAD)."),
    version: str = typer.Option(None, "--mlperf-version",
                                help="MLPerf round, e.g. 3.0 (default: from --repo)."),
    window: str = typer.Option("100:500", "--window", "-w", help="Iterations A:B (the A+1th to the Bth)."),
) -> None:
    """One record per MLPerf Mask R-CNN run log, grouped per system; the logs stay where they are."""
    from bench.records.mlperf import import_results

    if not path.exists():
        raise BenchError(f"{path}: no such file or directory")
    report = import_results(path, runs or runs_dir(), repo=repo, commit=commit, version=version,
                            window=parse_window(window))
    for log, reason in report.rejected:
        typer.echo(f"rejected {log}: {reason}", err=True)
    typer.echo(f"imported {len(report.written)} runs of {len(report.systems)} systems; "
               f"rejected {len(report.rejected)}")
