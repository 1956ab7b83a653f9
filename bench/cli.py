"""The `bench` command line: a thin typer app. Each concern's commands live in its own `commands` module;
this file only assembles them and turns a `BenchError` into one line on stderr (exit status 2)."""

from __future__ import annotations

import sys

import typer

from bench.builtin import commands as builtin_commands
from bench.coco import commands as coco_commands
from bench.errors import BenchError
from bench.images import commands as image_commands
from bench.k8s import commands as k8s_commands
from bench.launch import commands as launch_commands
from bench.logs import commands as log_commands
from bench.protocol import commands as protocol_commands
from bench.recipes import commands as recipe_commands
from bench.records import import_commands
from bench.report import commands as report_commands
from bench.slurm import commands as slurm_commands
from bench.source import commands as source_commands

cli = typer.Typer(name="bench", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Measure and compare the training throughput of object-detection implementations.")

cli.command("list")(recipe_commands.list_recipes)
cli.command("show")(recipe_commands.show)
cli.command("plan")(source_commands.plan)
cli.command("setup")(source_commands.setup)
cli.command("run")(launch_commands.run)
cli.command("parse")(log_commands.parse)
cli.command("table")(report_commands.table)
cli.command("export")(report_commands.export)
cli.command("history")(report_commands.history)
cli.command("compare")(report_commands.compare)
cli.command("report")(report_commands.report)
cli.command("check")(protocol_commands.check)
cli.command("eval")(coco_commands.evaluate)

data = typer.Typer(no_args_is_help=True, help="Datasets: synthesise a COCO-format one, describe one.")
data.command("synth")(builtin_commands.synth)
data.command("stats")(coco_commands.stats)
data.command("coco")(coco_commands.coco_layout)
cli.add_typer(data, name="data")
cli.add_typer(k8s_commands.app, name="k8s")
cli.add_typer(slurm_commands.app, name="slurm")
cli.add_typer(image_commands.app, name="image")
cli.add_typer(import_commands.app, name="import")
cli.add_typer(report_commands.baseline, name="baseline")


def app() -> None:
    """Console entry point."""
    try:
        cli()
    except BenchError as exc:
        typer.echo(f"bench: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    app()
