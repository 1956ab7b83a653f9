"""`bench slurm render NAME`: the batch script `bench run NAME --launcher slurm` would submit, printed."""

from pathlib import Path

import typer

from bench.errors import BenchError

app = typer.Typer(no_args_is_help=True, help="Run recipes on a Slurm cluster.")


def render(name: str = typer.Argument(..., help="Recipe name (see `bench list`)."),
           preset: str = typer.Option(None, "--preset", help="A preset of the recipe (e.g. smoke)."),
           nodes: int = typer.Option(1, "--nodes", help="Nodes (one task each)."),
           gpus_per_node: int = typer.Option(None, "--gpus-per-node",
                                             help="GPUs per node (default: the recipe's)."),
           procs: int = typer.Option(1, "--procs", min=1, help="CPU processes per node (a CPU preset)."),
           partition: str = typer.Option(None, "--partition", help="The partition."),
           time_limit: str = typer.Option(None, "--time", help="The job's time limit (sbatch's syntax)."),
           account: str = typer.Option(None, "--account", help="The account to charge."),
           container_image: str = typer.Option(None, "--container-image", help="Run the tasks in this image "
                                               "(pyxis/enroot)."),
           gpu_request: str = typer.Option("gres", "--gpu-request",
                                           help="gres (--gres=gpu:G) or gpus-per-node."),
           data: Path = typer.Option(None, "--data", help="The COCO-format dataset directory the nodes see."),
           workdir: Path = typer.Option(Path("bench-slurm"), "--workdir",
                                        help="Where the job writes (a directory every node sees): "
                                        "WORKDIR/output, WORKDIR/stdout.log, WORKDIR/stderr.log."),
           python: str = typer.Option("python", "--python", help="The interpreter on the nodes."),
           source_dir: Path = typer.Option(None, "--source-dir", help="The patched checkout the nodes see "
                                           "(default: where `bench setup` puts it)."),
           ) -> None:
    """Print the sbatch script for a recipe (submit it with sbatch, or let `bench run --launcher slurm` do
    it)."""
    typer.echo(render_text(name, preset=preset, data=data, workdir=workdir, python=python,
                           source_dir=source_dir, procs=procs,
                           run_options=dict(nodes=nodes, gpus_per_node=gpus_per_node, partition=partition,
                                            time=time_limit, account=account, container_image=container_image,
                                            gpu_request=gpu_request)), nl=False)


def render_text(name: str, *, preset: str | None, data: Path | None, workdir: Path, python: str,
                source_dir: Path | None, run_options: dict, procs: int = 1) -> str:
    from bench.pipeline.run import command_for
    from bench.vocabulary import HARNESS_ENV
    from bench.recipes.loader import find_recipe
    from bench.recipes.render import render_env
    from bench.slurm.render import ScriptPaths, SlurmRun, render_script
    from bench.source.setup import checkout_dir
    from bench.telemetry.control import node_sampler_argv

    recipe = find_recipe(name)
    try:
        recipe = recipe.with_preset(preset)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    run = SlurmRun(**{key: value for key, value in run_options.items() if value is not None})
    gpus = run.gpus_per_node if run.gpus_per_node is not None else recipe.gpus
    if procs > 1 and gpus > 0:
        raise BenchError(f"--procs {procs} counts CPU processes; {recipe.name} runs {gpus} GPU(s) per node")
    refusal = recipe.refusal(gpus, run.nodes, preset=preset, procs=procs)
    if refusal is not None:
        raise BenchError(refusal)
    workdir = workdir.resolve()
    checkout = (source_dir or checkout_dir(recipe)).resolve() if recipe.source else None
    values = dict(gpus=gpus, data=data.resolve() if data else "", output=workdir / "output",
                  source_dir=checkout, python=python, nodes=run.nodes, procs=procs)
    if data is None and "data" in " ".join(recipe.command):
        raise BenchError(f"{recipe.name} reads a COCO-format dataset: pass --data DIR (a path the nodes see)")
    argv = command_for(recipe, **values)
    cwd = checkout / recipe.source.subdir if checkout is not None else workdir
    paths = ScriptPaths(workdir=cwd, output=workdir / "output", stdout=workdir / "stdout.log",
                        stderr=workdir / "stderr.log", mounts=(workdir,) + ((checkout,) if checkout else ()),
                        read_only=(data.resolve(),) if data else ())
    env = {**render_env(recipe, **values), **HARNESS_ENV}
    return render_script(recipe=recipe.name, variant=recipe.variant, argv=argv, env=env, run=run, gpus=gpus,
                         paths=paths, job_name=f"bench-{recipe.name}", title=recipe.title,
                         sampler=node_sampler_argv(workdir, gpus))


app.command("render")(render)
