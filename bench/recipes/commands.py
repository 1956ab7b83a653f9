"""`bench list` and `bench show` (stubs until the recipes issue lands)."""

from __future__ import annotations

import typer


def list_recipes(json_output: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List the recipes."""
    raise NotImplementedError


def show(name: str) -> None:
    """Show one recipe."""
    raise NotImplementedError
