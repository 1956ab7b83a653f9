"""`bench k8s run` and `bench k8s collect`: a recipe on a cluster, measured by the same watcher and window
arithmetic as `bench run`, and a finished pod's log turned into a record."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from bench import __version__
from bench.errors import BenchError
from bench.k8s.render import RenderOptions, Rendered, dns_name, render, to_yaml
from bench.launch.kubernetes import LOG_NAME, STREAM, KubernetesLauncher
from bench.launch.batch import PlannedBatch
from bench.launch.runner import _throughput, images_per_iter_source, run_status
from bench.launch.watch import Progress, StopRequest, Watcher, stop_on_signals
from bench.logs.commands import parse_window
from bench.logs.registry import new_parser
from bench.logs.types import Status
from bench.measure.assess import measure, parse_file, split_segments
from bench.measure.checks import clock_check
from bench.measure.window import per_iteration_series, spans_from_records
from bench.paths import recipes_dir, runs_dir
from bench.recipes import Recipe, find_recipe
from bench.recipes.loader import recipe_hash
from bench.recipes.schema import devices
from bench.source.setup import expected_patch_hashes
from bench.protocol.provenance import patch_files_for, provenance_hash
from bench.protocol.spec import CURRENT_VERSION
from bench.records.schema import PatchHash, Provenance, RunRecord
from bench.records.store import new_run_id, save_record, utc_now_iso

KUBECTL_GRACE_SLACK_S = 30.0  # the kubelet's own delay on top of the pod's grace period


def run_on_cluster(name: str, opts: RenderOptions, *, window: str | None = None, timeout: float | None = None,
                   start_timeout: float = 900.0, out: Path | None = None, progress: bool = True,
                   stop_request: StopRequest | None = None) -> tuple[Path, RunRecord]:
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
    span = parse_window(window) if window else (applied.window.start, applied.window.end)
    images_per_iter = planned_images_for(applied, rendered)
    planned = PlannedBatch(images_per_iter, devices(rendered.gpus, rendered.nodes), applied.images_per_iter)
    launcher = KubernetesLauncher(rendered, manifests, run_dir, kubectl=os.environ.get("BENCH_KUBECTL", "kubectl"),
                                  start_timeout=start_timeout)
    parser = new_parser(applied.log.format)
    stop_request = stop_request or StopRequest()
    with stop_on_signals(stop_request):
        launcher.start()
        try:
            watcher = Watcher(launcher, parser, stream=STREAM, window=span, images_per_iter=images_per_iter,
                              timeout=timeout, grace=opts.grace + KUBECTL_GRACE_SLACK_S, stop_request=stop_request,
                              progress=Progress(recipe.name, span, images_per_iter, enabled=progress),
                              planned_batch=planned)
            watch = watcher.run()
        finally:
            launcher.cleanup()
    m = measure(parser, images_per_iter, span, watch.arrival)
    status, reason, extra_warnings = run_status(m, watch, parser)
    diff_pct, clock_warning = clock_check(m.result, m.clock)
    record = _record(applied, rendered, run_dir.name, opts.preset, status, reason,
                     warnings=list(m.warnings) + extra_warnings + ([clock_warning] if clock_warning else []),
                     measurement=m, parser=parser, images_per_iter=images_per_iter, span=span,
                     log_files={"log": LOG_NAME, "clock": "clock.tsv", "manifests": "manifests.yaml"},
                     exit_code=watch.exit_code, tail=watch.tail,
                     extra={"harness": {"stop_reason": watch.stop_reason, "stop_iteration": watch.stop_iteration,
                                        "wall_s": round(watch.ended_at - watch.started_at, 3),
                                        "timeout_s": timeout, "lines": watch.lines_per_stream,
                                        "clock_stream": STREAM},
                            "kubernetes": _where(rendered, launcher.pod)},
                     images_per_iter_source=images_per_iter_source(parser, planned),
                     dataset={"path": f"PersistentVolumeClaim {opts.data_pvc}", "synthetic": False},
                     clock_difference_pct=diff_pct)
    save_record(record, run_dir)
    return run_dir, record


def planned_images_for(recipe: Recipe, rendered: Rendered) -> int:
    """Images per iteration over every pod of the job (rendered.gpus is per node)."""
    return recipe.planned_images(rendered.gpus, rendered.nodes)


def collect_pod(pod: str, *, namespace: str = "default", container: str | None = None,
                recipe_name: str | None = None, window: str | None = None,
                out: Path | None = None) -> tuple[Path, RunRecord]:
    """`kubectl logs POD` of a finished pod -> parsed with its recipe's format -> a record (origin: imported:
no harness clock; the pod is only read)."""
    import json
    import subprocess

    kubectl = os.environ.get("BENCH_KUBECTL", "kubectl")

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
                              next((c for c in ("trainer", "pytorch") if c in containers), containers[:1] or [None])[0])
    per_pod = max((int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
                   for c in meta.get("spec", {}).get("containers", [])), default=0)
    nodes = int(labels.get("bench.dev/nodes", "1"))
    gpus = max(per_pod, 1) * nodes
    args = ["logs", pod] + (["-c", container] if container else [])
    text = kubectl_out(*args)
    run_dir = out or runs_dir() / new_run_id(recipe.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOG_NAME).write_text(text, encoding="utf-8")
    span = parse_window(window) if window else (recipe.window.start, recipe.window.end)
    images_per_iter = recipe.planned_images(max(per_pod, 1), nodes)
    parser, m = parse_file(run_dir / LOG_NAME, recipe.log.format, images_per_iter, span)
    exit_code = _terminated_exit_code(meta, container)
    status, reason = m.status, m.reason
    if status is not Status.OK and exit_code not in (0, None) and not parser.records:
        status, reason = Status.FAILED, f"the pod's container exited with status {exit_code}"
    record = _record(recipe, None, run_dir.name, None, status, reason, warnings=list(m.warnings), measurement=m,
                     parser=parser, images_per_iter=images_per_iter, span=span, log_files={"log": LOG_NAME},
                     exit_code=exit_code, tail=parser.tail[-50:], gpus=gpus, nodes=nodes,
                     extra={"kubernetes": {"namespace": namespace, "pod": pod, "container": container,
                                           "node": meta.get("spec", {}).get("nodeName"),
                                           "image": _image(meta, container)}},
                     origin="imported")
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


def _record(recipe: Recipe, rendered: Rendered | None, run_id: str, preset: str | None, status: Status, reason: str,
            *, warnings: list, measurement, parser, images_per_iter: int, span: tuple[int, int], log_files: dict,
            exit_code: int | None, tail: list[str], extra: dict, gpus: int | None = None, nodes: int | None = None,
            clock_difference_pct: float | None = None, origin: str = "run", images_per_iter_source: str | None = None,
            dataset: dict | None = None) -> RunRecord:
    m = measurement
    path = recipes_dir() / f"{recipe.name}.toml"
    provenance = Provenance(
        recipe=recipe.name, recipe_path=f"{path.parent.name}/{path.name}",
        recipe_sha256=recipe_hash(path) if path.is_file() else "",
        repo=recipe.source.repo if recipe.source else None, commit=recipe.source.commit if recipe.source else None,
        patches=[PatchHash(**p) for p in expected_patch_hashes(recipe)],  # what the initContainer applied
        container_image=rendered.image if rendered else extra.get("kubernetes", {}).get("image"),
        protocol_version=CURRENT_VERSION, bench_version=__version__)
    provenance.hash = provenance_hash(recipe, path, patch_files_for(recipe), provenance.container_image,
                                      CURRENT_VERSION, __version__)
    segments = split_segments(parser.records)
    spans = spans_from_records(segments[-1] if segments else [], images_per_iter)
    comparable = recipe.presets[preset].comparable if preset else True
    return RunRecord(
        run_id=run_id, created=utc_now_iso(), implementation=recipe.name, family=recipe.family,
        variant=recipe.variant, title=recipe.title, framework=f"{recipe.framework.name} {recipe.framework.version}",
        preset=preset, comparable=comparable, status=status, reason=reason, exit_code=exit_code,
        command=list(rendered.argv) if rendered else [],
        gpus=gpus if gpus is not None else rendered.gpus * rendered.nodes,
        nodes=nodes if nodes is not None else rendered.nodes, images_per_iter=images_per_iter,
        images_per_iter_source=images_per_iter_source, dataset=dataset,
        window_requested=list(span), log_format=recipe.log.format, framework_timing=_throughput(m.result),
        harness_clock=_throughput(m.clock) if m.clock else None, clock_difference_pct=clock_difference_pct,
        last_iteration=m.last_iteration, series=[[float(i), s] for i, s in per_iteration_series(spans)],
        warnings=warnings, log_files=log_files, log_tail=tail if status is not Status.OK else [],
        provenance=provenance, reference=recipe.reference.model_dump() if recipe.reference else None,
        coco_eval=list(parser.coco.summaries), origin=origin, extra=extra)
