"""The `bench` command line, the only package that imports typer. Each module here holds one concern's
commands; this file assembles them and turns a `BenchError` into one line on stderr (exit status 2).

The command modules import the domain packages inside their functions, not at the top, so that
`bench --help` and a mistyped option do not import pandas and matplotlib first: 0.37 s against 0.95 s with the
report's imports (benchmarks/cli_startup.py, on the 2-core development machine)."""

from __future__ import annotations

import sys

import typer

from bench.cli import bundle, check, data, image, imports, k8s, parse, recipes, report, run, slurm, source
from bench.errors import BenchError

cli = typer.Typer(name="bench", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Measure and compare the training throughput of object-detection implementations.")

# `bench NAME`, in the order `bench --help` lists them.
COMMANDS = {"list": recipes.list_recipes, "show": recipes.show, "plan": source.plan, "setup": source.setup,
            "run": run.run, "parse": parse.parse, "table": report.table, "export": report.export,
            "history": report.history, "compare": report.compare, "report": report.report,
            "check": check.check, "eval": data.evaluate, "bundle": bundle.bundle}
# `bench NAME SUBCOMMAND`.
GROUPS = {"data": data.app, "k8s": k8s.app, "slurm": slurm.app, "image": image.app, "import": imports.app,
          "baseline": report.baseline}
for _name, _command in COMMANDS.items():
    cli.command(_name)(_command)
for _name, _group in GROUPS.items():
    cli.add_typer(_group, name=_name)


def app() -> None:
    """Console entry point."""
    try:
        cli()
    except BenchError as exc:
        typer.echo(f"bench: error: {exc}", err=True)
        sys.exit(2)

