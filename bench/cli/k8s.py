"""`bench k8s render|run|collect`: a recipe as Kubernetes manifests, run through kubectl, logs into
records."""

from pathlib import Path

import typer

from bench.cli.options import optional_window
from bench.numbers import sig3

app = typer.Typer(no_args_is_help=True, help="Run recipes on a Kubernetes cluster.")

_GPUS = typer.Option(None, "--gpus", help="GPUs per node (default: the recipe's).")
_NODES = typer.Option(1, "--nodes", help="Nodes (pods with GPUs); > 1 renders a distributed job.")
_IMAGE = typer.Option(None, "--image",
                      help="Container image (default: the recipe's stack image); tag or digest.")
_NAMESPACE = typer.Option("default", "--namespace", "-n", help="Namespace.")
_PVC = typer.Option("coco", "--data-pvc", help="PersistentVolumeClaim with the dataset, mounted at /data.")
_GRACE = typer.Option(5, "--grace", help="terminationGracePeriodSeconds: SIGTERM to SIGKILL on delete.")
_RUN_AS = typer.Option(1000, "--run-as", help="Non-root user and group id for every container.")
_OPERATOR = typer.Option("native", "--operator", help="Several nodes: native (indexed Job) or kubeflow.")
_TOKEN = typer.Option(None, "--token-secret", help="Secret with a private repository's token.")
_TOKEN_KEY = typer.Option("token", "--token-key", help="Key of the token in that Secret.")
_PRESET = typer.Option(None, "--preset", help="A preset of the recipe (e.g. smoke).")
_SOURCE = typer.Option(None, "--source", help="A mirror of the recipe's repository (no credentials in it).")
_QUEUE = typer.Option(None, "--queue", help="Kueue LocalQueue: admit all pods of the job at once.")
_NAME = typer.Option(None, "--name", help="Name of the Kubernetes objects (default bench-<recipe>).")
_GIT_IMAGE = typer.Option(None, "--git-image", help="Image for the clone-and-patch initContainer (pinned).")
_SHM = typer.Option("16Gi", "--shm-size", help="Size limit of the in-memory /dev/shm.")
_REGISTRY = typer.Option(None, "--registry", help="Registry of the recipe's image (default BENCH_REGISTRY, "
                                                  "else localhost: what `bench image build` made here).")


def _options(**kwargs):
    from bench.k8s.render import DEFAULT_GIT_IMAGE, RenderOptions

    kwargs["git_image"] = kwargs.get("git_image") or DEFAULT_GIT_IMAGE
    return RenderOptions(**kwargs)


def render(name: str = typer.Argument(..., help="Recipe name."), gpus: int = _GPUS, nodes: int = _NODES,
           image: str = _IMAGE, namespace: str = _NAMESPACE, data_pvc: str = _PVC, grace: int = _GRACE,
           run_as: int = _RUN_AS, operator: str = _OPERATOR, token_secret: str = _TOKEN,
           token_key: str = _TOKEN_KEY, preset: str = _PRESET, source: str = _SOURCE, queue: str = _QUEUE,
           object_name: str = _NAME, git_image: str = _GIT_IMAGE, shm_size: str = _SHM,
           registry: str = _REGISTRY) -> None:
    """Print the manifests for a recipe (multi-document YAML)."""
    from bench.k8s.render import render as render_manifests
    from bench.k8s.render import to_yaml
    from bench.recipes import find_recipe

    opts = _options(gpus=gpus, nodes=nodes, image=image, namespace=namespace, data_pvc=data_pvc, grace=grace,
                    run_as=run_as, operator=operator, token_secret=token_secret, token_key=token_key,
                    preset=preset, source=source, queue=queue, name=object_name, git_image=git_image,
                    shm_size=shm_size, registry=registry)
    rendered = render_manifests(find_recipe(name), opts)
    typer.echo(to_yaml(rendered.objects), nl=False)


def run(name: str = typer.Argument(..., help="Recipe name."), gpus: int = _GPUS, nodes: int = _NODES,
        image: str = _IMAGE, namespace: str = _NAMESPACE, data_pvc: str = _PVC, grace: int = _GRACE,
        run_as: int = _RUN_AS, operator: str = _OPERATOR, token_secret: str = _TOKEN,
        token_key: str = _TOKEN_KEY, preset: str = _PRESET, source: str = _SOURCE, queue: str = _QUEUE,
        git_image: str = _GIT_IMAGE, registry: str = _REGISTRY,
        shm_size: str = _SHM,
        window: str = typer.Option(None, "--window", "-w", help="Iterations A:B (default: the recipe's)."),
        timeout: float = typer.Option(None, "--timeout", help="Stop after this many seconds of training."),
        start_timeout: float = typer.Option(900, "--start-timeout",
                                            help="Seconds to wait for the pod to start."),
        out: Path = typer.Option(None, "--out", help="Run directory (default results/runs/<run-id>)."),
        progress: bool = typer.Option(True, "--progress/--no-progress",
                                      help="A live progress line on a terminal."),
        ) -> None:
    """Apply the manifests, follow the pod's log live, stop after the window (kubectl delete), write the
    record."""
    from bench.pipeline.kubernetes import run_on_cluster
    from bench.paths import output_dir

    out = output_dir(out, "--out") if out is not None else None

    opts = _options(gpus=gpus, nodes=nodes, image=image, namespace=namespace, data_pvc=data_pvc, grace=grace,
                    run_as=run_as, operator=operator, token_secret=token_secret, token_key=token_key,
                    preset=preset, source=source, queue=queue, git_image=git_image, shm_size=shm_size,
                    registry=registry)
    path, record = run_on_cluster(name, opts, window=optional_window(window), timeout=timeout,
                                  start_timeout=start_timeout, out=out, progress=progress)
    _report(path, record)


def collect(pod: str = typer.Argument(..., help="A finished pod (its log is the run's log)."),
            namespace: str = _NAMESPACE,
            container: str = typer.Option(None, "--container", "-c",
                                          help="Container (default: from its labels)."),
            recipe: str = typer.Option(None, "--recipe",
                                       help="Recipe (default: the pod's bench.dev/recipe label)."),
            window: str = typer.Option(None, "--window", "-w",
                                       help="Iterations A:B (default: the recipe's)."),
            out: Path = typer.Option(None, "--out", help="Run directory (default results/runs/<run-id>)."),
            ) -> None:
    """Turn a finished pod's log (`kubectl logs POD`) into a run record."""
    from bench.pipeline.kubernetes import collect_pod
    from bench.paths import output_dir

    out = output_dir(out, "--out") if out is not None else None

    path, record = collect_pod(pod, namespace=namespace, container=container, recipe_name=recipe,
                               window=optional_window(window), out=out)
    _report(path, record)


def _report(path: Path, record) -> None:
    value = record.framework_timing.throughput_img_s
    shown = f"{sig3(value)} img/s" if value is not None and record.status.value == "ok" else "no throughput"
    typer.echo(f"{record.implementation}: {record.status.value}"
               f"{' - ' + record.reason if record.reason else ''}; {shown}; record {path}")
    if record.status.value != "ok":
        raise typer.Exit(1)


app.command("render")(render)
app.command("run")(run)
app.command("collect")(collect)
