"""`bench k8s render|run|collect` (stubs)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Run recipes on a Kubernetes cluster.")


@app.command()
def render(name: str) -> None:
    """Print the manifests for a recipe."""
    raise NotImplementedError
