"""`bench image base|build`: make the images the container launcher and `bench k8s` run."""

from pathlib import Path

import typer

from bench.errors import BenchError

app = typer.Typer(no_args_is_help=True,
                  help="Container images: the local Debian base; a recipe's base + child.")


def _engine(engine: str) -> str:
    from bench.images.engine import ENGINES

    if engine not in ENGINES:
        raise BenchError(f"--engine {engine}: choose one of {', '.join(ENGINES)}")
    return engine


@app.command("base")
def base(engine: str = typer.Option("docker", "--engine", help="docker or podman."),
         registry: str = typer.Option(None, "--registry", help="Registry prefix (default BENCH_REGISTRY or "
                                      "localhost)."),
         ) -> None:
    """Build the local base (Debian bookworm + python3 + tini) from Debian's archive, no registry needed."""
    from bench.images.build import LOCAL_BASE, build_local_base
    from bench.images.refs import image_ref

    image = build_local_base(_engine(engine), registry)
    typer.echo(f"{image_ref(LOCAL_BASE, registry)} {image}")


@app.command("build")
def build(name: str = typer.Argument(None, help="Recipe name."),
          recipe: Path = typer.Option(None, "--recipe", help="A recipe file that is not in recipes/."),
          engine: str = typer.Option("docker", "--engine", help="docker or podman."),
          tag: str = typer.Option(None, "--tag", help="Tag for the child image (default: from the recipe)."),
          registry: str = typer.Option(None, "--registry", help="Registry prefix (default BENCH_REGISTRY or "
                                       "localhost)."),
          push: bool = typer.Option(False, "--push", help="Push the child image after building it."),
          dry_run: bool = typer.Option(False, "--dry-run",
                                       help="Print the exact build steps; build nothing."),
          ) -> None:
    """Build a recipe's base then its child image; print the steps and the child's image ID."""
    from bench.images.build import build as build_image
    from bench.images.build import push as push_image
    from bench.pipeline.run import load

    loaded, _ = load(name, recipe)
    lines, image = build_image(loaded, _engine(engine), registry, tag, dry_run=dry_run)
    for line in lines:
        typer.echo(line)
    if push and not dry_run:
        typer.echo(push_image(loaded, engine, registry, tag))
    if image:
        typer.echo(image)
