"""`bench plan` and `bench setup`."""

import json
from pathlib import Path

import typer

from bench.errors import BenchError
from bench.vocabulary import EnvVar


def plan(name: str = typer.Argument(..., help="Recipe name (see `bench list`)."),
         gpus: int = typer.Option(None, "--gpus",
                                  help="GPUs to use (default: the recipe's, 8 for published rows)."),
         data: str = typer.Option("DATA", "--data", help="COCO root (annotations/, train2017/, ...)."),
         output: str = typer.Option("OUTPUT", "--output", help="Output directory of the run."),
         source: str = typer.Option(None, "--source", help="Fetch from this URL or local mirror instead."),
         workdir: str = typer.Option(None, "--workdir",
                                     help="Directory for the checkout (default: the cache).")
         ) -> None:
    """Print the exact shell steps setup and run would perform (clone, checkout, each patch, env, launch)."""
    from bench.recipes.loader import find_recipe
    from bench.source.plan import plan_steps

    recipe = find_recipe(name)
    gpus = recipe.gpus if gpus is None else gpus
    refusal = recipe.refusal(gpus)  # what `bench run` refuses, `bench plan` does not print a plan for
    if refusal is not None:
        raise BenchError(refusal)
    for line in plan_steps(recipe, gpus=gpus, data=data, output=output, source=source, workdir=workdir):
        typer.echo(line)


def setup(name: str = typer.Argument(..., help="Recipe name (see `bench list`)."),
          source: str = typer.Option(None, "--source",
                                     help="A URL or local mirror to fetch the commit from."),
          workdir: Path = typer.Option(None, "--workdir",
                                       help="Directory for the checkout (default: the cache)."),
          allow_missing_blobs: bool = typer.Option(False, "--allow-missing-blobs",
                                                   help="Check out without files whose blobs the mirror "
                                                        "lacks."),
          no_env: bool = typer.Option(False, "--no-env",
                                      help="Prepare the source only, not the environment."),
          weights: Path = typer.Option(None, "--weights",
                                       help="A directory holding the recipe's [weights] file (air-gapped "
                                            "clusters); default: fetch it from its URL into the cache."),
          json_output: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
          bundle: Path = typer.Option(None, "--bundle", envvar=EnvVar.BUNDLE,
                                      help="Install from this offline bundle (`bench bundle`) only: its "
                                           "source and wheels, every file verified, no network.")) -> None:
    """Bring the source to its pinned commit, apply and verify its patches, and write the manifest."""
    from bench.envs import ensure_environment
    from bench.recipes.loader import find_recipe
    from bench.security import redact
    from bench.source.setup import manifest_summary, prepare

    recipe = find_recipe(name)
    echo = (lambda message: typer.echo(redact(message), err=True)) if json_output else (
        lambda message: typer.echo(redact(message)))
    if bundle is not None:
        return _setup_from_bundle(name, bundle, source, workdir, no_env, echo, json_output)
    prepared = prepare(recipe, source=source, workdir=workdir, allow_missing_blobs=allow_missing_blobs,
                       log=echo)
    if prepared.path is not None:
        echo(f"{recipe.name}: source {prepared.path}"
             + (" (a verified tree, reused as it was)" if prepared.reused else ""))
    if prepared.missing_paths:
        echo(f"warning: {len(prepared.missing_paths)} files are absent (the source lacks their blobs): "
             f"{', '.join(prepared.missing_paths[:5])}{' ...' if len(prepared.missing_paths) > 5 else ''}")
    _setup_weights(recipe, weights, echo)
    if not no_env:
        environment = ensure_environment(recipe, prepared.path)
        echo(f"{recipe.name}: environment python {environment.python}"
             + (" (reused as it was)" if environment.reused else " (created)"))
    if json_output:
        typer.echo(json.dumps(manifest_summary(prepared), indent=2, sort_keys=True))


def _setup_from_bundle(name: str, bundle: Path, source: str | None, workdir: Path | None, no_env: bool, echo,
                       json_output: bool) -> None:
    """`bench setup NAME --bundle DIR`: the bundle's source and wheels (its preset's install steps)."""
    from bench.bundle.install import open_for_suite
    from bench.envs import ensure_environment
    from bench.recipes.loader import recipe_path
    from bench.source.setup import manifest_summary, prepare

    if source is not None:
        raise BenchError("--source with --bundle: the bundle carries the source")
    opened, missing = open_for_suite(bundle, None, [name], None, False, {name: (recipe_path(name), None)})
    if missing:
        raise BenchError(f"{name}: not in the bundle {bundle}: {missing[name]}")
    preset = opened.bundle.manifest.preset
    recipe = opened.install_recipe(recipe_path(name), preset)
    use = opened.member(name)
    prepared = prepare(recipe, source=use.source, workdir=workdir, log=echo)
    if prepared.path is not None:
        echo(f"{recipe.name}: source {prepared.path} (from the bundle)")
    if not no_env:
        environment = ensure_environment(recipe, prepared.path, log=echo, setting=use.setting)
        echo(f"{recipe.name}: environment python {environment.python} from the bundle {opened.bundle.root} "
             f"(preset {preset}; " + ("reused as it was)" if environment.reused else "created)"))
    params = opened.bundle.manifest.members[name].synthetic_data
    if params:
        from bench.builtin.synth import ensure_synthetic

        data = ensure_synthetic(dict(params))
        echo(f"{recipe.name}: synthetic dataset {data} (the preset's, generated from its seed)")
    if json_output:
        typer.echo(json.dumps(manifest_summary(prepared), indent=2, sort_keys=True))


def _setup_weights(recipe, from_dir: Path | None, echo) -> None:
    """Fetch (or copy from --weights DIR) and verify the recipe's backbone weights. Without --weights a failed
    fetch is a warning: the suite presets start from random weights anyway (a declared deviation)."""
    from bench.source.weights import fetch_weights

    if recipe.weights is None:
        if from_dir is not None:
            raise BenchError(f"--weights {from_dir}: recipe {recipe.name!r} declares no [weights]")
        return
    try:
        fetched = fetch_weights(recipe.weights, from_dir)
    except BenchError as exc:
        if from_dir is not None:
            raise
        echo(f"warning: {recipe.name}: backbone weights not fetched: {exc}")
        return
    state = "verified" if fetched.verified else "UNVERIFIED (the recipe publishes no checksum)"
    echo(f"{recipe.name}: backbone weights {fetched.path} (sha256 {fetched.sha256}, {state})")
