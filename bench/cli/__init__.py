"""The `bench` command line, the only package that imports typer. Each module here holds one concern's
commands; this file assembles them and turns a `BenchError` into one line on stderr (exit status 2).

The command modules import the domain packages inside their functions, not at the top, so that a command pays
only for what it uses (`bench parse` of a 1,200-line log: 0.16 s of CPU, `bench --help` 0.26 s, against 0.55 s
and 0.49 s before; benchmarks/cli_startup.py, warm, on the shared 2-core development machine). They do not
postpone annotations (`from __future__ import annotations`): typer would resolve every parameter's annotation
string, a compile() each, at every start."""

import sys
from pathlib import Path

import typer

from bench.cli import bundle, check, data, image, imports, k8s, parse, recipes, report, run, slurm, source
from bench.errors import BenchError

cli = typer.Typer(name="bench", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Measure and compare the training throughput of object-detection implementations.")


def _print_version(wanted: bool) -> None:
    if wanted:
        import bench

        typer.echo(f"bench {bench.__version__} ({bench.DISTRIBUTION}, {Path(bench.__file__).parent})")
        raise typer.Exit(0)


@cli.callback()
def _options(_version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                           help="Print bench's version and where it runs from, and exit.")
             ) -> None:
    """Options of `bench` itself, before the command."""

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

