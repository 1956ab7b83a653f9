"""The container launcher and image builds on paper: the engine argv bench renders (GPU flags for Docker and
Podman, non-root, no privilege escalation, values kept out of the argv), image references and build steps for
every recipe, and the refusal of stacks that cannot run on this host. The real engines run in
tests/test_containers_slow.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.images.build import build_steps
from bench.images.refs import image_ref
from bench.launch.container import ContainerSpec, Mount, gpu_flags, mounts_for, run_argv
from bench.pipeline.run import RunOptions, dry_run_steps, host_stack_problem, load, resolve
from bench.paths import recipes_dir

RECIPES = sorted(p.stem for p in recipes_dir().glob("*.toml"))


def spec(**kw) -> ContainerSpec:
    base = dict(engine="docker", image="localhost/bench/x:1", name="bench-r1", workdir=Path("/w"))
    return ContainerSpec(**{**base, **kw})


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def test_docker_gpus_are_one_device_list():
    assert gpu_flags("docker", 4) == ["--gpus", '"device=0,1,2,3"']
    assert gpu_flags("docker", 0) == []


def test_podman_gpus_are_cdi_devices():
    assert gpu_flags("podman", 2) == ["--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=1"]


def test_run_argv_is_non_root_without_escalation(monkeypatch):
    monkeypatch.delenv("BENCH_CONTAINER_OPTIONS", raising=False)
    monkeypatch.delenv("BENCH_ENGINE_OPTIONS", raising=False)
    argv = run_argv(spec(user="1000:1000", gpus=8), ["python", "train.py"])
    assert argv[:2] == ["docker", "run"]
    assert flag_values(argv, "--user") == ["1000:1000"]
    assert flag_values(argv, "--security-opt") == ["no-new-privileges"]
    assert flag_values(argv, "--cap-drop") == ["ALL"]
    assert flag_values(argv, "--gpus") == ['"device=0,1,2,3,4,5,6,7"']
    assert argv[-3:] == ["localhost/bench/x:1", "python", "train.py"]


def test_environment_values_never_reach_the_argv():
    argv = run_argv(spec(env={"HF_TOKEN": "s3cr3t-value", "PYTHONUNBUFFERED": "1"}), ["true"])
    assert "s3cr3t-value" not in " ".join(argv)
    assert flag_values(argv, "--env") == ["HF_TOKEN", "PYTHONUNBUFFERED"]


def test_engine_quirks_are_options(monkeypatch):
    monkeypatch.setenv("BENCH_ENGINE_OPTIONS", "--runtime runc")
    monkeypatch.setenv("BENCH_CONTAINER_OPTIONS", "--ulimit nofile=20000:20000")
    argv = run_argv(spec(engine="podman"), ["true"])
    assert argv[:4] == ["podman", "--runtime", "runc", "run"]
    assert flag_values(argv, "--ulimit") == ["nofile=20000:20000"]


def test_mounts_keep_paths_and_make_data_read_only(tmp_path):
    work, data = tmp_path / "run", tmp_path / "coco"
    mounts = mounts_for(work, [work / "output"], [data])
    assert mounts == (Mount(work.resolve()), Mount(data.resolve(), read_only=True))  # output is inside work
    assert mounts[1].flag() == f"type=bind,source={data.resolve()},target={data.resolve()},readonly"


def test_a_path_that_would_split_a_mount_is_refused():
    with pytest.raises(BenchError, match="cannot be mounted"):
        Mount(Path("/data/a,readonly=false")).flag()


def test_unknown_engine_is_one_line():
    with pytest.raises(BenchError, match="docker, podman"):
        spec(engine="lxc")


def test_image_refs_take_the_registry_from_the_option_or_the_environment(monkeypatch):
    monkeypatch.delenv("BENCH_REGISTRY", raising=False)
    assert image_ref("bench/x:1") == "localhost/bench/x:1"
    assert image_ref("bench/x:1", "registry.example.org/team") == "registry.example.org/team/bench/x:1"
    monkeypatch.setenv("BENCH_REGISTRY", "harbor.local:5000")
    assert image_ref("bench/x:1") == "harbor.local:5000/bench/x:1"
    assert image_ref("nvcr.io/nvidia/pytorch:19.10-py3") == "nvcr.io/nvidia/pytorch:19.10-py3"


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_image_builds_base_then_child_with_its_base_arg(name, monkeypatch):
    monkeypatch.delenv("BENCH_REGISTRY", raising=False)
    recipe, _ = load(name, None)
    steps = build_steps(recipe)
    assert steps[-1].tag == image_ref(recipe.stack.image)
    assert steps[-1].dockerfile.is_file()
    if recipe.stack.base is not None:
        assert steps[-1].build_args["BASE"] == image_ref(recipe.stack.base.image)
        child = steps[-1].dockerfile.read_text()
        assert "ARG BASE" in child and "FROM ${BASE}" in child


def test_a_published_stack_on_another_python_is_refused_before_anything_starts(monkeypatch):
    recipe, _ = load("detectron2", None)
    assert recipe.stack.python == "3.7"
    notes: list[str] = []
    with pytest.raises(BenchError, match=r"detectron2 cannot run on this host: its stack is Python 3\.7.*"
                                         r"--launcher docker.*detectron2-current"):
        host_stack_problem(recipe, 8, notes, strict=True)
    host_stack_problem(recipe, 8, notes, strict=False)
    assert "--launcher docker" in notes[0]


def test_cuda10_cannot_drive_hopper(monkeypatch):
    import bench.pipeline.run as pipeline

    recipe, _ = load("detectron2", None)
    monkeypatch.setattr(pipeline, "compute_capabilities", lambda: [9.0])
    with pytest.raises(BenchError, match=r"CUDA 10\.1 has no kernels for this GPU \(compute capability 9\)"):
        host_stack_problem(recipe.model_copy(update={"install": []}), 8, [], strict=True)


def test_dry_run_names_the_engine_run_line(monkeypatch):
    monkeypatch.delenv("BENCH_REGISTRY", raising=False)
    recipe, path = load("builtin", None)
    plan = resolve(recipe, path, RunOptions(preset="smoke", launcher="podman"), available_gpus=0,
                   check_gpus=False)
    steps = "\n".join(dry_run_steps(plan))
    assert "podman run --name 'bench-<run-id>' --user" in steps
    assert image_ref(recipe.stack.image) in steps
    assert "--cap-drop ALL" in steps


def test_image_without_a_container_launcher_is_refused():
    recipe, path = load("builtin", None)
    with pytest.raises(BenchError, match="--image needs a container launcher"):
        resolve(recipe, path, RunOptions(preset="smoke", image="x:1"), available_gpus=0)


def test_root_runs_the_container_as_the_images_user(monkeypatch):
    from bench.launch import container

    monkeypatch.setattr(os, "getuid", lambda: 0)
    assert container.run_user() == container.NON_ROOT_USER
    monkeypatch.setattr(os, "getuid", lambda: 1234)
    monkeypatch.setattr(os, "getgid", lambda: 99)
    assert container.run_user() == "1234:99"


def test_build_args_without_a_default_come_from_the_environment(monkeypatch):
    recipe, _ = load("simpledet", None)
    monkeypatch.delenv("BENCH_COCOAPI_COMMIT", raising=False)
    monkeypatch.setenv("BENCH_MXNEXT_COMMIT", "b" * 40)
    args = build_steps(recipe)[-1].build_args
    assert args["MXNEXT_COMMIT"] == "b" * 40 and args["COCOAPI_COMMIT"] == "<set BENCH_COCOAPI_COMMIT>"
    from bench.images.build import build

    with pytest.raises(BenchError, match="BENCH_COCOAPI_COMMIT"):
        build(recipe.model_copy(update={"stack": recipe.stack.model_copy(update={"base": None})}), "docker")
