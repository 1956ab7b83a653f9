"""The `bench` command line, the only package that imports typer. Each module here holds one concern's
commands; this file assembles them and turns a `BenchError` into one line on stderr (exit status 2).

The command modules import the domain packages inside their functions, not at the top, so that
`bench --help` and a mistyped option do not import pandas and matplotlib first: 0.37 s against 0.95 s with the
report's imports (benchmarks/cli_startup.py, on the 2-core development machine)."""

from __future__ import annotations

import sys

import typer

from bench.cli import check, data, image, imports, k8s, parse, recipes, report, run, slurm, source
from bench.errors import BenchError

cli = typer.Typer(name="bench", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Measure and compare the training throughput of object-detection implementations.")

cli.command("list")(recipes.list_recipes)
cli.command("show")(recipes.show)
cli.command("plan")(source.plan)
cli.command("setup")(source.setup)
cli.command("run")(run.run)
cli.command("parse")(parse.parse)
cli.command("table")(report.table)
cli.command("export")(report.export)
cli.command("history")(report.history)
cli.command("compare")(report.compare)
cli.command("report")(report.report)
cli.command("check")(check.check)
cli.command("eval")(data.evaluate)
cli.add_typer(data.app, name="data")
cli.add_typer(k8s.app, name="k8s")
cli.add_typer(slurm.app, name="slurm")
cli.add_typer(image.app, name="image")
cli.add_typer(imports.app, name="import")
cli.add_typer(report.baseline, name="baseline")


def app() -> None:
    """Console entry point."""
    try:
        cli()
    except BenchError as exc:
        typer.echo(f"bench: error: {exc}", err=True)
        sys.exit(2)

