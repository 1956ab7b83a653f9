"""Every recipe, every GPU/node count it accepts: the images per iteration bench counts (the dry run's line,
and what `bench k8s run` measures with) equal what the rendered command really trains. The expected value is
derived from the command line and the upstream config defaults the command leaves alone (cited below), never
from the recipe's images_per_iter formula. A count a recipe cannot honour is refused with one line, before
anything starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.k8s.render import RenderOptions, render
from bench.pipeline.run import RunOptions, command_for, dry_run_steps, resolve
from bench.paths import patches_dir, recipes_dir
from bench.recipes.loader import load_all

RECIPES = load_all()
CASES = [(r, preset) for r in RECIPES for preset in (None, *r.presets)]
GPU_COUNTS = (0, 1, 2, 4, 8)
# (GPUs per node, CPU processes per node): the CPU at one and at two processes (--procs), then GPU counts
COUNTS = ((0, None), (0, 2), *((gpus, None) for gpus in GPU_COUNTS[1:]))

# Upstream defaults the commands do not override (what the trainer does when the argv says nothing).
# detectron2 configs/Base-RCNN-FPN.yaml:36; maskrcnn-benchmark config/defaults.py:413-415
D2_DEFAULT_GLOBAL = 16
DETECTRON_PER_GPU = 2  # Detectron detectron/core/config.py:90-92, TRAIN.IMS_PER_BATCH per GPU
# mmdet 2.x coco_detection.py:31 samples_per_gpu; 3.x coco_instance.py train_dataloader batch_size
MMDET_PER_GPU = 2
# SimpleDet config/mask_r50v1_fpn_1x.py:19 batch_image 2, :27 KvstoreParam.gpus [0..7]
SIMPLEDET_GLOBAL = 2 * 8
TENSORPACK_PER_PROCESS = 1  # tensorpack examples/FasterRCNN/NOTES.md:49, one image per GPU (process)


def option(argv: list[str], *names: str) -> str | None:
    """The value of `--name value` or `--name=value` (the first spelling found)."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def yacs_value(argv: list[str], key: str) -> int | None:
    return int(argv[argv.index(key) + 1]) if key in argv else None


def matterport_global() -> int:
    """GPU_COUNT x IMAGES_PER_GPU as the published diff leaves them (mrcnn/config.py: BATCH_SIZE = their
    product)."""
    diff = (patches_dir() / "matterport" / "benchmark-hyperparameters.diff").read_text()
    gpu_count = int(re.search(r"^\+\s+GPU_COUNT = (\d+)", diff, re.M)[1])
    per_gpu = int(re.search(r"^[ +]\s+IMAGES_PER_GPU = (\d+)", diff, re.M)[1])
    return gpu_count * per_gpu


def mmdet_smoke_per_process() -> int:
    config = (patches_dir() / "mmdetection-current" / "smoke"
              / "mask-rcnn_r50-caffe_fpn_smoke.py").read_text()
    return int(re.search(r"batch_size=(\d+)", config)[1])


def torch_processes(argv: list[str]) -> int:
    """Processes a torchrun / torch.distributed.launch command starts in all (no launcher: one)."""
    per_node = option(argv, "--nproc_per_node", "--nproc-per-node")
    nodes = option(argv, "--nnodes")
    return int(per_node or 1) * int(nodes or 1)


def trained_images(family: str, argv: list[str], env: dict[str, str]) -> int:
    """Global images per iteration, read from the launch command as the trainer would read it."""
    if family in ("detectron2", "maskrcnn-benchmark"):  # yacs, SOLVER.IMS_PER_BATCH global
        total = yacs_value(argv, "SOLVER.IMS_PER_BATCH") or D2_DEFAULT_GLOBAL
        workers = int(option(argv, "--num-gpus") or 1) * int(option(argv, "--num-machines") or 1)
        if family == "maskrcnn-benchmark":
            workers = torch_processes(argv)
        assert total % workers == 0, f"{total} images cannot be split over {workers} workers"
        return total
    if family == "detectron":
        return DETECTRON_PER_GPU * yacs_value(argv, "NUM_GPUS")
    if family in ("torchvision", "torchvision-builtin"):
        return int(option(argv, "-b", "--batch-size")) * torch_processes(argv)
    if family == "mmdetection":
        script = next((i for i, a in enumerate(argv) if a.endswith("dist_train.sh")), None)
        if script is not None:  # dist_train.sh CONFIG GPUS: GPUS processes per node, NNODES nodes (3.x)
            return MMDET_PER_GPU * int(argv[script + 2]) * int(env.get("NNODES", "1"))
        # torchrun and the package's tools/train.py: bench's smoke config, or the suite's full config
        smoke = any(a.endswith("_smoke.py") for a in argv)
        return (mmdet_smoke_per_process() if smoke else MMDET_PER_GPU) * torch_processes(argv)
    if family == "tensorpack":
        return TENSORPACK_PER_PROCESS * int(option(argv, "-np", "-n", "--np"))
    if family == "simpledet":
        return SIMPLEDET_GLOBAL
    if family == "matterport":
        return matterport_global()
    raise AssertionError(f"no rule for family {family!r}: add one from its upstream config")


def dry_run_images(steps: list[str]) -> int:
    line = next(s for s in steps if s.startswith("measure"))
    return int(re.search(r"(\d+) images/iteration", line)[1])


@pytest.mark.parametrize("recipe,preset", CASES, ids=[f"{r.name}-{p or 'default'}" for r, p in CASES])
def test_bench_run_counts_what_the_command_trains(recipe, preset) -> None:
    accepted = 0
    for gpus, procs in COUNTS:
        options = RunOptions(gpus=gpus, procs=procs, preset=preset, data=Path("/"))
        try:
            plan = resolve(recipe, recipes_dir() / f"{recipe.name}.toml", options, available_gpus=8,
                           check_gpus=False)
        except BenchError as exc:
            message = str(exc)
            refused = (f"--gpus {gpus}", f"--procs {procs}") if procs else (f"--gpus {gpus}",)
            assert message.startswith(recipe.name) and "\n" not in message
            assert any(option in message for option in refused), message
            continue
        accepted += 1
        argv = command_for(plan.recipe, gpus=plan.gpus, data="/data", output="/out", source_dir="/src",
                           python="python", procs=plan.procs)
        expected = trained_images(recipe.family, argv, plan.recipe.env)
        assert dry_run_images(dry_run_steps(plan)) == expected, (gpus, procs, argv)
    assert accepted, "the recipe accepts no GPU count at all"


K8S_CASES = [(r, p) for r, p in CASES if (r.with_preset(p).allowed.gpus or [1]) != [0]]


@pytest.mark.parametrize("recipe,preset", K8S_CASES, ids=[f"{r.name}-{p or 'default'}" for r, p in K8S_CASES])
@pytest.mark.parametrize("nodes", [1, 2])
def test_k8s_counts_what_the_pods_train(recipe, preset, nodes) -> None:
    from bench.pipeline import kubernetes as k8s_run

    for gpus in GPU_COUNTS[1:]:
        try:
            rendered = render(recipe, RenderOptions(gpus=gpus, nodes=nodes, preset=preset))
        except BenchError as exc:
            assert "\n" not in str(exc)
            continue
        container = trainer_container(rendered.objects)
        argv = container["command"] + container["args"]
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        expected = trained_images(recipe.family, argv, env)
        assert k8s_run.planned_images_for(recipe.with_preset(preset), rendered) == expected, \
            (gpus, nodes, argv)


def trainer_container(objects: list[dict]) -> dict:
    """The container that launches training: the MPIJob launcher, the PyTorchJob master, or the Job's
    trainer."""
    workload = objects[-1]
    if workload["kind"] == "MPIJob":
        return workload["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    return workload["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("name,preset,gpus,why", [
    ("simpledet", None, 4, "runs on 8 GPU"),
    ("matterport", None, 4, "runs on 8 GPU"),
    ("builtin", "smoke", 2, "runs on 0 GPU"),
    ("detectron2", None, 0, "runs on 1 or more GPUs"),
])
def test_bench_run_refuses_a_count_the_command_ignores(name, preset, gpus, why) -> None:
    args = ["run", name, "--gpus", str(gpus), "--dry-run"] + (["--preset", preset] if preset else [])
    done = subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and why in lines[0], done.stderr


def test_k8s_refuses_two_nodes_where_one_process_drives_every_gpu() -> None:
    from bench.recipes import find_recipe

    for name in ("simpledet", "matterport", "detectron", "mmdetection"):
        with pytest.raises(BenchError, match=rf"^{name}: --nodes 2: it runs on 1 node"):
            render(find_recipe(name), RenderOptions(nodes=2))


def bench_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


@pytest.mark.parametrize("formula,gpus,why", [
    ("2 *", 8, "is not an expression"),
    ("gpus // 0", 8, "divides by zero"),
    ("4 - gpus", 8, "gives -4 images"),
    ("gpus - 1", 1, "gives 0 images"),  # valid at the recipe's 8 GPUs, refused at --gpus 1
    ("2.5 * gpus", 8, "is not an integer"),
    ("2 ** gpus", 8, "only integers, gpus, nodes"),
])
def test_a_bad_formula_is_one_line_naming_the_file_and_field(tmp_path, formula, gpus, why) -> None:
    text = (recipes_dir() / "torchvision.toml").read_text()
    path = tmp_path / "torchvision.toml"
    path.write_text(re.sub(r'^images_per_iter = .*$', f'images_per_iter = "{formula}"', text, count=1,
                           flags=re.M))
    done = bench_cli("run", "--recipe", str(path), "--gpus", str(gpus), "--dry-run")
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "images_per_iter" in lines[0] and why in lines[0], \
        lines
