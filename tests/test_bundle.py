"""Offline bundles (bench.bundle, issue 24): tiny bundles made here, verified and matched before anything is
installed; bad bundles refused in one line with exit status 2, leaving nothing behind. The real bundle of the
current suite, built and run with no network, is the slow tier's (test_bundle_slow.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bundle.build import install_signature
from bench.bundle.install import open_for_suite
from bench.bundle.manifest import (BUNDLE_VERSION, MANIFEST_NAME, Manifest, MemberEntry, file_entries,
                                   open_bundle, size_report, write_manifest)
from bench.bundle.sources import pack_source
from bench.bundle.target import Target, arch_covered, describe_target, target_problems
from bench.bundle.toolkit import nvcc_release
from bench.bundle.wheels import WheelName, normalise
from bench.cli import app
from bench.envs import (Environment, EnvironmentSetting, base_python, ensure_environment, installed_packages,
                        site_packages)
from bench.errors import BenchError
from bench.recipes.loader import find_recipe, recipe_path
from bench_runs import invoke
from test_bad_input import bench_fails
from test_envs import dummy_wheel

HERE: list[Target] = []


def here() -> Target:
    """This machine as a target (probed once per session: a subprocess of the base interpreter)."""
    if not HERE:
        HERE.append(describe_target(base_python()))
    return HERE[0]


def make_bundle(root: Path, *, members: tuple[str, ...] = ("builtin",), suite: str = "current",
                preset: str = "smoke", target: Target | None = None, kind: str = "full") -> Path:
    """A bundle of `members` for this machine: a wheel file each (a dummy), their install steps as bench
    renders them, a manifest listing every file."""
    root.mkdir(parents=True)
    (root / "wheels").mkdir()
    wheel = dummy_wheel(root / "wheels")
    entries = {}
    for name in members:
        recipe = find_recipe(name).with_preset(preset)
        commit = recipe.source.commit if recipe.source else None
        entries[name] = MemberEntry(recipe_sha256="0" * 64, commit=commit,
                                    wheels=[f"wheels/{wheel.name}"],
                                    install=install_signature(recipe, Path("src") if recipe.source else None))
    manifest = Manifest(bench_bundle=BUNDLE_VERSION, suite=suite, preset=preset, kind=kind,
                        target=target or here(), members=entries,
                        skipped={"torchvision": "its source could not be prepared: no network"},
                        files=file_entries(root, [f"wheels/{wheel.name}"]))
    write_manifest(root, manifest)
    return root


def assert_nothing_left(bench_env) -> None:
    """Nothing installed, no source checked out, no run started."""
    assert not (bench_env.cache / "envs").exists() and not (bench_env.cache / "src").exists()
    assert not bench_env.runs.exists() or not any(bench_env.runs.iterdir())


def run_suite_args(bundle: Path, preset: str = "smoke") -> list:
    return ["run", "--suite", "current", "--preset", preset, "--no-progress", "--bundle", bundle]


# -- verification --------------------------------------------------------------------------------------------
def test_a_verified_bundle_names_the_members_it_lacks(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b")
    opened, missing = open_for_suite(bundle, "current", ["builtin", "torchvision", "mmdetection-current"],
                                     "smoke", False, {m: (recipe_path(m), "smoke") for m in
                                                      ("builtin", "torchvision", "mmdetection-current")})
    assert opened.sha256 == __import__("hashlib").sha256((bundle / MANIFEST_NAME).read_bytes()).hexdigest()
    assert missing == {"torchvision": "its source could not be prepared: no network",
                       "mmdetection-current": "the bundle does not carry it"}
    # a full bundle's members see its one stack environment (torch, torchvision) after their own
    opened._stack = Environment(python=Path(sys.executable))
    member = opened.member("builtin")
    assert member.setting.env["PIP_NO_INDEX"] == "1"
    assert member.setting.env["PIP_FIND_LINKS"] == str(bundle / "wheels")
    assert member.setting.pins == {"bundle": opened.sha256} and member.source is None
    assert member.setting.layer == (str(site_packages(Path(sys.executable))),) and member.setting.without_pip
    assert_nothing_left(bench_env)


def test_a_changed_file_is_refused(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b")
    wheel = next((bundle / "wheels").iterdir())
    data = bytearray(wheel.read_bytes())
    data[-1] ^= 1
    wheel.write_bytes(bytes(data))
    bench_fails(run_suite_args(bundle), f"wheels/{wheel.name}", "sha256", "changed")
    assert_nothing_left(bench_env)


def test_a_truncated_file_is_refused(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b")
    wheel = next((bundle / "wheels").iterdir())
    wheel.write_bytes(wheel.read_bytes()[:10])
    bench_fails(run_suite_args(bundle), f"wheels/{wheel.name}", "10 bytes", "truncated")
    assert_nothing_left(bench_env)


def test_a_manifest_that_is_not_json(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b")
    (bundle / MANIFEST_NAME).write_text('{"bench_bundle": 1, "suite": ')
    bench_fails(run_suite_args(bundle), str(bundle / MANIFEST_NAME), "not JSON")
    assert_nothing_left(bench_env)


@pytest.mark.parametrize("path", ["../outside.whl", "/etc/passwd", "wheels/../../x"])
def test_a_manifest_naming_a_path_outside_the_bundle(tmp_path, bench_env, path):
    bundle = make_bundle(tmp_path / "b")
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data["files"][path] = {"sha256": "0" * 64, "size": 1}
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
    bench_fails(run_suite_args(bundle), str(bundle / MANIFEST_NAME), repr(path))
    assert_nothing_left(bench_env)


def test_a_link_out_of_the_bundle_is_refused(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b")
    wheel = next((bundle / "wheels").iterdir())
    outside = tmp_path / "elsewhere.whl"
    outside.write_bytes(wheel.read_bytes())
    wheel.unlink()
    wheel.symlink_to(outside)
    bench_fails(run_suite_args(bundle), "leads outside the bundle")
    assert_nothing_left(bench_env)


def test_a_manifest_linked_from_outside_or_a_fifo_is_refused(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b")
    manifest = bundle / MANIFEST_NAME
    outside = tmp_path / "manifest-elsewhere.json"
    outside.write_bytes(manifest.read_bytes())  # a valid manifest, but not the bundle's own file
    manifest.unlink()
    manifest.symlink_to(outside)
    bench_fails(run_suite_args(bundle), str(manifest), "leaves")
    manifest.unlink()
    os.mkfifo(manifest)  # never blocks: refused before any read
    bench_fails(run_suite_args(bundle), str(manifest), "not a regular file")
    assert_nothing_left(bench_env)


def test_a_manifest_of_another_format_version(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b")
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data["bench_bundle"] = 99
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
    bench_fails(run_suite_args(bundle), "field 'bench_bundle'", "99")


def test_a_bundle_of_another_suite(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b", suite="legacy")
    bench_fails(run_suite_args(bundle), "a bundle of suite 'legacy', not 'current'")
    assert_nothing_left(bench_env)


def test_a_bundle_for_another_python(tmp_path, bench_env):
    other = here().model_copy(update={"python": "3.9.18", "abi": "cp39"})
    bundle = make_bundle(tmp_path / "b", target=other)
    line = bench_fails(run_suite_args(bundle), "does not match this machine", "the bundle is for 3.9 (cp39)",
                       f"is {here().python} ({here().abi})")
    assert str(bundle) in line
    assert_nothing_left(bench_env)


def test_an_on_top_bundle_for_a_torch_this_interpreter_lacks(tmp_path, bench_env):
    # the base interpreter bench makes environments from has no torch here
    other = here().model_copy(update={"torch": "2.11.0+cu130", "torchvision": "0.26.0", "cuda": "13.0"})
    bundle = make_bundle(tmp_path / "b", target=other, kind="on-top")
    bench_fails(run_suite_args(bundle), "torch: the bundle is built on top of torch 2.11.0+cu130",
                "has none", "CUDA: the bundle is built for torch with CUDA 13.0")
    assert_nothing_left(bench_env)


def test_a_gpu_preset_on_a_machine_without_the_bundles_gpu(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b", preset="full")
    bench_fails(run_suite_args(bundle, "full"), "GPU: the preset runs on a GPU")
    assert_nothing_left(bench_env)


def test_a_member_that_this_bench_installs_differently(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b")
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data["members"]["builtin"]["install"] = ["{python} -m pip install torch==2.0.0"]
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
    bench_fails(run_suite_args(bundle), "builtin: this bench installs it differently", "rebuild the bundle")
    assert_nothing_left(bench_env)


def test_a_recipe_not_in_the_bundle(tmp_path, bench_env):
    bundle = make_bundle(tmp_path / "b")
    bench_fails(["run", "mmdetection-current", "--preset", "smoke", "--bundle", bundle],
                "mmdetection-current: not in the bundle")
    bench_fails(["setup", "mmdetection-current", "--bundle", bundle],
                "mmdetection-current: not in the bundle")
    assert_nothing_left(bench_env)


def test_the_suite_reports_and_skips_members_the_bundle_lacks(tmp_path, bench_env, monkeypatch):
    import bench.pipeline.suite as suite

    bundle = make_bundle(tmp_path / "b")
    ran = []
    monkeypatch.setattr(suite, "resolve", lambda recipe, path, options: type("P", (), {
        "recipe": recipe, "options": options})())
    monkeypatch.setattr(suite, "execute", lambda plan, stop: (ran.append(plan), (None, _ok(plan)))[1])
    said = []
    from bench.launch.watch import StopRequest
    from bench.pipeline.run import RunOptions

    suite.run_suite("current", RunOptions(preset="smoke"), 1, StopRequest(), say=said.append, bundle=bundle)
    assert [plan.recipe.name for plan in ran] == ["builtin"]
    assert ran[0].options.bundle is not None and ran[0].options.bundle.sha256
    skipped = [line for line in said if "not in the bundle" in line]
    assert len(skipped) == 3 and any(line.startswith("torchvision: not in the bundle (its source could not")
                                     for line in skipped)


def _ok(plan):
    from bench.vocabulary import RunStatus

    return type("R", (), {"status": RunStatus.OK, "implementation": plan.recipe.name, "reason": "",
                          "framework_timing": type("T", (), {"throughput_img_s": 1.0})()})()


# -- the parts --------------------------------------------------------------------------------------------
def test_target_problems_name_both_sides():
    base = Target(python="3.12.3", abi="cp312", platform="linux-x86_64", glibc="2.39",
                  interpreter="/t/python3", base_interpreter="/usr/bin/python3.12", torch="2.11.0+cu130",
                  torchvision="0.26.0", cuda="13.0", gpu_archs=["9.0"])
    assert target_problems(base, "on-top", ["9.0"], base, needs_gpu=True) == []
    older = base.model_copy(update={"glibc": "2.31", "gpu_archs": ["8.0"], "torch": "2.9.1+cu128",
                                    "cuda": "12.8"})
    problems = target_problems(base, "on-top", ["9.0"], older, needs_gpu=True, built_glibc="2.36")
    assert "C library: the bundle's compiled wheels need glibc 2.36, this machine has 2.31" in problems
    assert ("torch: the bundle is built on top of torch 2.11.0+cu130, this machine's /t/python3 has "
            "2.9.1+cu128") in problems
    assert ("GPU architecture: the bundle's compiled parts are built for 9.0, this machine's GPU is "
            "8.0") in problems
    # a full bundle does not use the machine's torch
    assert not any(p.startswith("torch") for p in target_problems(base, "full", ["9.0"], older, False))


def test_architectures_covered_by_machine_code_or_older_ptx():
    assert arch_covered("9.0", ["9.0"]) and arch_covered("9.0", ["8.0+PTX"])
    assert not arch_covered("9.0", ["8.0"]) and not arch_covered("8.0", ["9.0+PTX"])


def test_size_report_counts_shared_wheels_once(tmp_path):
    root = tmp_path / "b"
    (root / "wheels").mkdir(parents=True)
    for name, size in (("a", 3 << 20), ("s", 5 << 20), ("b", 1 << 20)):
        (root / "wheels" / f"{name}.whl").write_bytes(b"x" * size)
    files = file_entries(root, ["wheels/a.whl", "wheels/s.whl", "wheels/b.whl"])
    manifest = Manifest(bench_bundle=1, suite="current", preset="smoke", kind="full", target=here(),
                        members={"one": MemberEntry(recipe_sha256="",
                                                    wheels=["wheels/a.whl", "wheels/s.whl"]),
                                 "two": MemberEntry(recipe_sha256="", wheels=["wheels/s.whl"])},
                        bench_wheels=["wheels/b.whl"], files=files)
    lines = {line.split("  ")[0].strip(): line for line in size_report(manifest)}
    assert lines["one only"].split()[2] == "3.0" and lines["two only"].split()[2] == "0.0"
    assert lines["shared"].split()[1] == "5.0" and lines["total"].split()[1] == "9.0"


def test_a_packed_source_holds_exactly_the_commit(tmp_path):
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for text in ("one", "two"):
        (repo / "f.txt").write_text(text)
        subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
        subprocess.run([*git, "-C", str(repo), "commit", "-qm", text], check=True)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    files = pack_source(repo, commit, tmp_path / "b" / "s.git")
    names = {str(f.relative_to(tmp_path / "b" / "s.git")) for f in files}
    assert {"HEAD", "shallow", "refs/heads/bench-pinned"} <= names and not any("hooks" in n for n in names)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(tmp_path / "b" / "s.git"), str(clone)], check=True)
    assert (clone / "f.txt").read_text() == "two"
    log = subprocess.run(["git", "-C", str(clone), "log", "--format=%H"], capture_output=True, text=True)
    assert log.stdout.split() == [commit]  # one commit, no history


def test_a_layered_environment_sees_the_layer_after_its_own(tmp_path, bench_env, monkeypatch):
    import bench.envs

    monkeypatch.setattr(bench.envs, "VENV_OPTIONS", ("--without-pip",))
    layer = tmp_path / "site"
    dist = layer / "providedpkg-4.5.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: providedpkg\nVersion: 4.5\n")
    spec = type("S", (), {"name": "layered", "install": ["true"], "env": {}})()
    environment = ensure_environment(spec, None, log=lambda line: None,
                                     setting=EnvironmentSetting(layer=(str(layer),),
                                                                env={"PIP_NO_INDEX": "1"},
                                                                bin_dirs=("/opt/site/bin",)))
    assert installed_packages(environment.python)["providedpkg"] == "4.5"
    assert environment.activated({"PATH": "/usr/bin"})["PATH"].split(":")[1] == "/opt/site/bin"
    plain = ensure_environment(spec, None, log=lambda line: None)
    assert plain.path != environment.path  # the setting keys the environment
    assert "providedpkg" not in installed_packages(plain.python)


def test_wheel_names_and_nvcc_releases(tmp_path):
    assert WheelName.of("mmcv-2.1.0-cp312-cp312-linux_x86_64.whl") == WheelName("mmcv", "2.1.0")
    assert WheelName.of("PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl").name == "pyyaml"
    assert normalise("Typing_Extensions") == "typing-extensions"
    with pytest.raises(BenchError):
        WheelName.of("notawheel.tar.gz")
    fake = tmp_path / "nvcc"
    fake.write_text("#!/bin/sh\necho 'Cuda compilation tools, release 13.0, V13.0.88'\n")
    fake.chmod(0o755)
    assert nvcc_release(fake) == "13.0" and nvcc_release(tmp_path / "missing") is None


def test_describe_target_prints_this_machine():
    python = base_python()  # (without torch: bench's own would import torch, seconds on a loaded machine)
    code, out, err = invoke(app, ["bundle", "--describe-target", "--python", python])
    assert code == 0, err
    facts = json.loads(out)
    assert facts["abi"] == f"cp{sys.version_info[0]}{sys.version_info[1]}"
    assert facts["interpreter"] == str(python) and facts["packages"]["pip"] and facts["torch"] is None


def test_open_bundle_of_a_missing_directory(tmp_path):
    with pytest.raises(BenchError, match="no such directory"):
        open_bundle(tmp_path / "nothing")


@pytest.mark.parametrize("args, expected", [
    (["--cuda-arch", "sm90"], "--cuda-arch sm90: expected a compute capability"),
    (["--kind", "on-top"], "provides no torch"),
    (["--kind", "half"], "--kind half: choose full or on-top"),
    (["--only", "nope"], "--only nope: not a member of suite 'current'"),
    (["--source", "nope=/x"], "--source nope=...: not a member of suite 'current'"),
    (["--source", "detectron2-current"], "give MEMBER=URL"),
    (["--preset", "huge"], "suite 'current' has no preset 'huge'"),
])
def test_bundle_options_refused_before_anything_is_built(tmp_path, bench_env, args, expected):
    bench_fails(["bundle", "--out", tmp_path / "b", "--python", base_python(), *args], expected)
    assert not (tmp_path / "b").exists() and not (bench_env.cache / "bundle-build").exists()


def test_bundle_into_a_folder_that_is_not_empty(tmp_path, bench_env):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    bench_fails(["bundle", "--out", tmp_path / "b", "--python", base_python()], "exists and is not an empty")
    assert (tmp_path / "b" / "keep.txt").read_text() == "mine"


def test_bench_bundle_environment_variable_names_the_bundle(tmp_path, bench_env, monkeypatch):
    bundle = make_bundle(tmp_path / "b")
    (bundle / MANIFEST_NAME).write_text("[")
    monkeypatch.setenv("BENCH_BUNDLE", str(bundle))
    bench_fails(["run", "builtin", "--preset", "smoke", "--no-progress"], str(bundle / MANIFEST_NAME),
                "not JSON")
    assert_nothing_left(bench_env)
