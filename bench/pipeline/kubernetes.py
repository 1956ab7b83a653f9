"""The pipeline on a Kubernetes cluster (`bench k8s run`, `bench k8s collect`): the recipe rendered as
manifests, the pod followed by the Kubernetes launcher, watched by the same watcher and measured by the same
window arithmetic as `bench run`; the record made by the one record builder (bench.records.builder), as is a
finished pod's log."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from bench.errors import BenchError
from bench.k8s.render import RenderOptions, Rendered, dns_name, render, to_yaml
from bench.launch.batch import PlannedBatch
from bench.launch.kubernetes import LOG_NAME, STREAM, KubernetesLauncher
from bench.launch.watch import Progress, StopRequest, Watcher, stop_on_signals
from bench.logs.registry import new_parser
from bench.vocabulary import EnvVar
from bench.vocabulary import RunStatus
from bench.measure.assess import measure, parse_file
from bench.paths import runs_dir
from bench.records.builder import Ending, Identity, RecordFacts, build_record
from bench.pipeline.run import harness_facts, recipe_deviations, watch_ending
from bench.records.provenance import provenance_for
from bench.recipes import Recipe, find_recipe, recipe_path
from bench.recipes.schema import Window, devices
from bench.records.schema import RunRecord
from bench.records.store import new_run_id, save_record

KUBECTL_GRACE_SLACK_S = 30.0  # the kubelet's own delay on top of the pod's grace period


def run_on_cluster(name: str, opts: RenderOptions, *, window: tuple[int, int] | None = None,
                   timeout: float | None = None, start_timeout: float = 900.0, out: Path | None = None,
                   progress: bool = True, stop_request: StopRequest | None = None) -> tuple[Path, RunRecord]:
    recipe = find_recipe(name)
    applied = recipe.with_preset(opts.preset)
    run_id = new_run_id(recipe.name)
    run_dir = out or runs_dir() / run_id
    # a name per run (the objects of two runs never collide); short enough for `<name>-<index>` hostnames
    opts = replace(opts, name=dns_name(f"bench-{recipe.name}"[:36] + "-" + run_id[2:8] + run_id[9:15]),
                   labels={**opts.labels, "bench.dev/run-id": dns_name(run_id, 63)})
    rendered = render(recipe, opts)
    manifests = to_yaml(rendered.objects)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifests.yaml").write_text(manifests, encoding="utf-8")
    span = window or (applied.window.start, applied.window.end)
    images_per_iter = planned_images_for(applied, rendered)
    planned = PlannedBatch(images_per_iter, devices(rendered.gpus, rendered.nodes), applied.images_per_iter)
    launcher = KubernetesLauncher(rendered, manifests, run_dir,
                                  kubectl=os.environ.get(EnvVar.KUBECTL, "kubectl"),
                                  start_timeout=start_timeout)
    parser = new_parser(applied.log.format)
    stop_request = stop_request or StopRequest()
    with stop_on_signals(stop_request):
        launcher.start()
        try:
            watcher = Watcher(launcher, parser, stream=STREAM, window=span, images_per_iter=images_per_iter,
                              timeout=timeout, grace=opts.grace + KUBECTL_GRACE_SLACK_S,
                              stop_request=stop_request,
                              progress=Progress(recipe.name, span, images_per_iter, enabled=progress),
                              planned_batch=planned)
            watch = watcher.run()
        finally:
            launcher.cleanup()
    m = measure(parser, images_per_iter, span, watch.arrival)
    batch = planned.choose(parser.batch)
    m.batch_evidence = batch.evidence
    facts = _facts(applied, run_dir.name, opts.preset, span, rendered.gpus * rendered.nodes, rendered.nodes,
                   command=list(rendered.argv), container_image=rendered.image,
                   log_files={"log": LOG_NAME, "clock": "clock.tsv", "manifests": "manifests.yaml"},
                   images_per_iter_source=batch.source,
                   dataset={"path": f"PersistentVolumeClaim {opts.data_pvc}", "synthetic": False},
                   extra={"harness": harness_facts(watch, STREAM, timeout_s=timeout),
                          "kubernetes": _where(rendered, launcher.pod)})
    record = build_record(facts, parser, m, watch_ending(m, watch, parser))
    save_record(record, run_dir)
    return run_dir, record


def planned_images_for(recipe: Recipe, rendered: Rendered) -> int:
    """Images per iteration over every pod of the job (rendered.gpus is per node)."""
    return recipe.planned_images(rendered.gpus, rendered.nodes)


def collect_pod(pod: str, *, namespace: str = "default", container: str | None = None,
                recipe_name: str | None = None, window: tuple[int, int] | None = None,
                out: Path | None = None) -> tuple[Path, RunRecord]:
    """`kubectl logs POD` of a finished pod -> parsed with its recipe's format -> a record (origin: imported:
no harness clock; the pod is only read)."""
    import json
    import subprocess

    kubectl = os.environ.get(EnvVar.KUBECTL, "kubectl")

    def kubectl_out(*args: str) -> str:
        done = subprocess.run([kubectl, "--namespace", namespace, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"kubectl {args[0]} {pod} failed: {done.stderr.strip()[-300:]}")
        return done.stdout

    meta = json.loads(kubectl_out("get", "pod", pod, "-o", "json"))
    labels = meta.get("metadata", {}).get("labels", {})
    recipe_name = recipe_name or labels.get("bench.dev/recipe")
    if not recipe_name:
        raise BenchError(f"pod {pod} has no bench.dev/recipe label; pass --recipe NAME")
    recipe = find_recipe(recipe_name)
    containers = [c["name"] for c in meta.get("spec", {}).get("containers", [])]
    inits = [c["name"] for c in meta.get("spec", {}).get("initContainers", [])]
    container = container or ("log-tail" if "log-tail" in inits else
                              next((c for c in ("trainer", "pytorch") if c in containers),
                                   containers[:1] or [None])[0])
    per_pod = max((int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
                   for c in meta.get("spec", {}).get("containers", [])), default=0)
    nodes = int(labels.get("bench.dev/nodes", "1"))
    gpus = max(per_pod, 1) * nodes
    args = ["logs", pod] + (["-c", container] if container else [])
    text = kubectl_out(*args)
    run_dir = out or runs_dir() / new_run_id(recipe.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOG_NAME).write_text(text, encoding="utf-8")
    span = window or (recipe.window.start, recipe.window.end)
    images_per_iter = recipe.planned_images(max(per_pod, 1), nodes)
    parser, m = parse_file(run_dir / LOG_NAME, recipe.log.format, images_per_iter, span)
    exit_code = _terminated_exit_code(meta, container)
    ending = Ending.of_log(m, parser)
    ending.exit_code = exit_code
    if ending.status is not RunStatus.OK and exit_code not in (0, None) and not parser.records:
        ending.status, ending.reason = RunStatus.FAILED, f"the pod's container exited with status {exit_code}"
    image = _image(meta, container)
    facts = _facts(recipe, run_dir.name, None, span, gpus, nodes, container_image=image,
                   log_files={"log": LOG_NAME}, origin="imported",
                   extra={"kubernetes": {"namespace": namespace, "pod": pod, "container": container,
                                         "node": meta.get("spec", {}).get("nodeName"), "image": image}})
    record = build_record(facts, parser, m, ending)
    save_record(record, run_dir)
    return run_dir, record


def _terminated_exit_code(meta: dict, container: str | None) -> int | None:
    for status in meta.get("status", {}).get("containerStatuses", []):
        terminated = status.get("state", {}).get("terminated")
        if terminated and status["name"] in ("trainer", "pytorch", container):
            return int(terminated.get("exitCode"))
    return None


def _image(meta: dict, container: str | None) -> str | None:
    for c in meta.get("spec", {}).get("containers", []):
        if c["name"] in ("trainer", "pytorch", container):
            return c.get("image")
    return None


def _where(rendered: Rendered, pod: str | None) -> dict:
    return {"namespace": rendered.namespace, "kind": rendered.kind, "name": rendered.name, "pod": pod,
            "image": rendered.image, "gpus_per_node": rendered.gpus, "nodes": rendered.nodes}


def _facts(recipe: Recipe, run_id: str, preset: str | None, span: tuple[int, int], gpus: int, nodes: int, *,
           container_image: str | None, **more) -> RecordFacts:
    """What a pod's record says about the run: the recipe at its pinned commit, patched by the
    initContainer."""
    path = recipe_path(recipe.name)
    # the pinned commit and the expected patch hashes: what the initContainer checked out and applied
    provenance = provenance_for(recipe, path, container_image).model_copy(
        update={"recipe_path": f"{path.parent.name}/{path.name}"})
    deviations = recipe_deviations(recipe.model_copy(update={"gpus": gpus, "window": Window(start=span[0],
                                                                                            end=span[1])}))
    return RecordFacts(run_id=run_id, identity=Identity.of(recipe), provenance=provenance, gpus=gpus,
                       nodes=nodes, window=span, log_format=recipe.log.format, preset=preset,
                       comparable=recipe.presets[preset].comparable if preset else True,
                       deviations=deviations, **more)
