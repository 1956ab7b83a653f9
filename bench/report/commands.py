"""`bench table`: regenerate results/README.md and the plots from the run records (or check them)."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.errors import BenchError
from bench.paths import output_file, results_dir, runs_dir


def table(
    runs: Path = typer.Option(None, "--runs", help="Directory of run directories (default: results/runs)."),
    out: Path = typer.Option(None, "--out", help="The table to write (default: results/README.md); the plots go "
                             "beside it (throughput.png, plots/<run-id>.png)."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when the table or a plot is out of "
                               "date, naming each."),
) -> None:
    """Regenerate results/README.md and the plots from the records."""
    from bench.report.generate import build, out_of_date, write

    runs = runs or runs_dir()
    out = output_file(out, "--out") if out is not None else results_dir() / "README.md"
    if not runs.is_dir() and runs != runs_dir():
        raise BenchError(f"--runs {runs}: no such directory")
    if check:
        problems = out_of_date(build(runs, out, with_images=False))
        for line in problems:
            typer.echo(f"out of date: {line}")
        if problems:
            typer.echo("run `bench table` to regenerate", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: up to date")
        return
    for path in write(build(runs, out)):
        typer.echo(f"{'removed' if not path.exists() else 'wrote'} {path}")
    typer.echo(f"{out}: up to date")
