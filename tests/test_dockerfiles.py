"""docker/: every recipe's Dockerfile, its base image and the base's scripts, checked as text (no Docker
engine).

The layout (docker/base/README.md): docker/<name>/Dockerfile starts
`ARG BASE=localhost/bench/base-<kind>:<tag>` / `FROM ${BASE}`, where docker/base/<kind>/Dockerfile documents
the build of that tag; the bases install bench-checkout and bench-finalize (docker/base/scripts/) into
/usr/local/bin.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.recipes.loader import load_all
from package_pins import instructions

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
SCRIPTS = DOCKER / "base" / "scripts"
SCRIPT_NAMES = ("bench-checkout", "bench-finalize")
REGISTRY = "localhost/bench/"
LOCAL_BASE = REGISTRY + "debian-py:bookworm"
# Variables the FROM images define (nvidia/cuda sets CUDA_VERSION; PATH is everywhere), usable without an ARG.
INHERITED_ENV = {"PATH", "CUDA_VERSION"}
VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
SHELL_ASSIGNMENT = re.compile(r"(?:^|[\s;&|(])([A-Za-z_][A-Za-z0-9_]*)=")
# What each base is built FROM: a tag that exists today (NVIDIA deleted every nvidia/cuda:10.x tag in 2023).
BASE_FROM = {"py37": "ubuntu:18.04", "current": "nvidia/cuda:${CUDA_TAG}"}


def arg_declaration(args: str) -> tuple[str, str | None]:
    name, eq, default = args.partition("=")
    return name.strip(), (default.strip().strip('"') if eq else None)


def check_variables(path: Path) -> dict[str, str | None]:
    """Every $VAR an instruction uses is declared where Docker sees it; returns the ARGs before FROM."""
    global_args: dict[str, str | None] = {}
    stage_args: dict[str, str | None] = {}
    env: set[str] = set()
    seen_from = False
    problems = []
    for keyword, args in instructions(path):
        if keyword == "ARG":
            name, default = arg_declaration(args)
            (stage_args if seen_from else global_args)[name] = default
            continue
        used = set(VAR.findall(args))
        if keyword == "FROM":
            undeclared = used - set(global_args)  # only ARGs declared before FROM reach FROM
            seen_from = True
            stage_args, env = {}, set()
        else:  # a RUN may use the shell variables it assigns itself
            local = set(SHELL_ASSIGNMENT.findall(args)) if keyword == "RUN" else set()
            undeclared = used - set(stage_args) - env - INHERITED_ENV - local
        if keyword == "ENV":
            env |= {m.group(1) for m in re.finditer(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", args)}
        problems += [f"{keyword} {args[:60]}...: ${name} not declared" for name in sorted(undeclared)]
    assert seen_from, f"{path}: no FROM"
    assert not problems, f"{path}: " + "; ".join(problems)
    return global_args


def guarded_args(path: Path) -> None:
    """An ARG after FROM with no default is a value the builder must pass: a RUN refuses it empty
    (`test -n`)."""
    seen_from, required = False, []
    runs = []
    for keyword, args in instructions(path):
        if keyword == "FROM":
            seen_from = True
        elif keyword == "ARG" and seen_from:
            name, default = arg_declaration(args)
            if default is None:
                required.append(name)
        elif keyword == "RUN":
            runs.append(args)
    unguarded = [name for name in required if not any(f'test -n "${{{name}}}"' in run for run in runs)]
    assert not unguarded, f"{path}: ARG without default and no `test -n` guard: {unguarded}"


def recipe_dockerfiles() -> dict[str, Path]:
    return {r.name: ROOT / r.stack.dockerfile for r in load_all()
            if r.stack is not None and r.stack.dockerfile}


def child_dockerfiles() -> list[Path]:
    return sorted(p for p in DOCKER.glob("*/Dockerfile") if p.parent.name not in ("base", "local-base"))


def base_dockerfiles() -> list[Path]:
    return sorted((DOCKER / "base").glob("*/Dockerfile"))


def test_every_recipe_dockerfile_exists_and_every_dockerfile_has_a_recipe():
    found = recipe_dockerfiles()
    assert found, "no recipe names a Dockerfile"
    for name, path in found.items():
        assert path.is_file(), f"recipe {name}: stack.dockerfile {path.relative_to(ROOT)} does not exist"
    assert set(found.values()) == set(child_dockerfiles())


@pytest.mark.parametrize("path", child_dockerfiles(), ids=lambda p: p.parent.name)
def test_child_builds_on_a_documented_base(path):
    global_args = check_variables(path)
    keywords = instructions(path)
    assert keywords[:2] == [("ARG", keywords[0][1]), ("FROM", "${BASE}")], \
        f"{path}: must start ARG BASE=... / FROM ${{BASE}}"
    base = global_args.get("BASE")
    if base == LOCAL_BASE:  # made by `bench image base` from Debian's archive (docker/local-base/README.md)
        assert (DOCKER / "local-base" / "README.md").is_file()
        return
    assert base and base.startswith(REGISTRY + "base-"), f"{path}: ARG BASE={base!r}"
    kind, _, tag = base[len(REGISTRY + "base-"):].partition(":")
    base_file = DOCKER / "base" / kind / "Dockerfile"
    assert base_file.is_file(), f"{path}: its base {base} has no {base_file.relative_to(ROOT)}"
    assert tag, f"{path}: ARG BASE has no tag"
    # The base's build command for that tag, documented in the base and repeated in the child's header.
    commands = [line.lstrip("# ").strip() for line in base_file.read_text().splitlines()
                if line.startswith("#") and f"-t {base} " in line]
    assert len(commands) == 1, f"{base_file}: no single documented build of {base}"
    assert commands[0].startswith(f"docker build -f {base_file.relative_to(ROOT)} ")
    header = path.read_text()
    assert commands[0] in header, f"{path}: header lacks the base's build command"
    assert f"docker build -f {path.relative_to(ROOT)} -t {REGISTRY}{path.parent.name}:" in header
    guarded_args(path)


def wheelhouse_dockerfiles() -> set[Path]:
    """Images built from a prepared context (bench's wheel and pinned wheels), not from a checkout."""
    return {ROOT / r.stack.dockerfile for r in load_all() if r.stack.dockerfile and r.stack.wheels}


def checkout_dockerfiles() -> list[Path]:
    return [p for p in child_dockerfiles() if p not in wheelhouse_dockerfiles()]


@pytest.mark.parametrize("path", sorted(wheelhouse_dockerfiles()), ids=lambda p: p.parent.name)
def test_wheelhouse_image_installs_offline_and_runs_as_bench(path):
    keywords = instructions(path)
    assert ("COPY", "wheels /wheels") in keywords
    assert any(k == "RUN" and "--no-index --find-links /wheels" in a for k, a in keywords), path
    assert ("USER", "1000:1000") in keywords and ("WORKDIR", "/workspace") in keywords


@pytest.mark.parametrize("path", checkout_dockerfiles(), ids=lambda p: p.parent.name)
def test_child_keeps_the_conventions(path):
    """bench/k8s/render.py: /opt/bench/src checked out and finalized, user bench 1000, HOME=/workspace."""
    keywords = instructions(path)
    runs = [args for keyword, args in keywords if keyword == "RUN"]
    assert sum(run.startswith("bench-checkout https://") and run.endswith(' "${COMMIT}"')
               for run in runs) == 1, path
    assert runs[-1] == "bench-finalize", f"{path}: bench-finalize must be the last RUN"
    assert keywords[-3:] == [("ENV", "HOME=/workspace PYTHONUNBUFFERED=1 ANSI_COLORS_DISABLED=1"),
                             ("USER", "1000:1000"), ("WORKDIR", "/workspace")], path
    assert re.search(r"^ARG COMMIT=[0-9a-f]{40}$", path.read_text(), re.M), f"{path}: COMMIT not a pinned SHA"
    assert not any(keyword in {"ENTRYPOINT", "CMD"} for keyword, _ in keywords), \
        f"{path}: the base's ENTRYPOINT is tini"


@pytest.mark.parametrize("path", base_dockerfiles(), ids=lambda p: p.parent.name)
def test_base(path):
    global_args = check_variables(path)
    guarded_args(path)
    keywords = instructions(path)
    assert [args for keyword, args in keywords if keyword == "FROM"] == [BASE_FROM[path.parent.name]], path
    assert ("ENV", "PATH=/opt/venv/bin:$PATH") in keywords
    assert ("ENTRYPOINT", '["/usr/bin/tini", "-g", "--"]') in keywords
    copies = [args.split() for keyword, args in keywords if keyword == "COPY"]
    assert copies == [[f"docker/base/scripts/{name}" for name in SCRIPT_NAMES] + ["/usr/local/bin/"]], path
    # Every documented tag builds this file, from the repository root, with the ARGs it declares.
    declared = set(global_args) | {arg_declaration(a)[0] for k, a in keywords if k == "ARG"}
    builds = [line.lstrip("# ").strip() for line in path.read_text().splitlines()
              if line.startswith("#") and "docker build" in line]
    assert builds, f"{path}: no documented build"
    for build in builds:
        assert build.startswith(f"docker build -f {path.relative_to(ROOT)} ") and build.endswith(" ."), build
        passed = set(re.findall(r"--build-arg (\w+)=\S+", build))
        assert passed and passed <= declared, build


def test_no_image_builds_from_a_deleted_cuda_10_tag():
    """NVIDIA deleted every nvidia/cuda:10.x tag from Docker Hub and NGC in 2023: a FROM naming one cannot
    build."""
    for path in child_dockerfiles() + base_dockerfiles():
        for keyword, args in instructions(path):
            assert not (keyword == "FROM" and re.search(r"nvidia/cuda:10\.", args)), f"{path}: FROM {args}"
        assert "CUDA_TAG=10." not in path.read_text(), \
            f"{path}: documents a build FROM a deleted nvidia/cuda:10.x tag"
    for recipe in load_all():
        base = recipe.stack.base
        tag = base.args.get("CUDA_TAG", "") if base else ""
        assert not tag.startswith("10."), \
            f"recipe {recipe.name}: [stack.base] CUDA_TAG {tag} names a deleted tag"


def test_py37_base_builds_the_published_cuda_and_cudnn():
    """The recipes' [stack] cuda/cudnn are what their base's build arguments install (no silent deviation)."""
    case = next(args for keyword, args in instructions(DOCKER / "base" / "py37" / "Dockerfile")
                if keyword == "RUN" and "CUDA_VERSION" in args)
    for recipe in load_all():
        base = recipe.stack.base
        if base is None or base.dockerfile != "docker/base/py37/Dockerfile":
            continue
        cuda, cudnn = base.args["CUDA_VERSION"], base.args["CUDNN_PIN"]
        assert f"{cuda})" in case, f"{recipe.name}: the base does not build CUDA {cuda}"
        assert recipe.stack.cuda.split()[0] == cuda.rsplit(".", 1)[0], \
            f"{recipe.name}: [stack] cuda vs {cuda}"
        assert cudnn == f"{recipe.stack.cudnn}.32-1+cuda{cuda.rsplit('.', 1)[0]}", \
            f"{recipe.name}: CUDNN_PIN {cudnn}"
        assert base.image.endswith(f"cu{cuda.rsplit('.', 1)[0].replace('.', '')}"
                                   f"-cudnn{recipe.stack.cudnn}"), base.image


def test_every_copy_source_exists():
    for path in checkout_dockerfiles() + base_dockerfiles():
        for keyword, args in instructions(path):
            if keyword == "COPY":
                *sources, _dest = [a for a in args.split() if not a.startswith("--")]
                for source in sources:
                    assert (ROOT / source).exists(), \
                        f"{path}: COPY {source} (from the repository root) is missing"


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_parses_and_is_executable(name):
    script = SCRIPTS / name
    assert script.read_text().startswith("#!/bin/sh\n")
    assert os.access(script, os.X_OK), f"{script} is not executable"
    for shell in ("sh", "bash"):
        if shutil.which(shell):
            result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
            assert result.returncode == 0, f"{shell} -n {script}: {result.stderr}"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_bench_checkout_fetches_exactly_the_commit(tmp_path):
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git("init", "-q", cwd=upstream)
    git("config", "user.email", "t@example.invalid", cwd=upstream)
    git("config", "user.name", "t", cwd=upstream)
    (upstream / "a.txt").write_text("1\n")
    git("add", "a.txt", cwd=upstream)
    git("commit", "-q", "-m", "one", cwd=upstream)
    pinned = git("rev-parse", "HEAD", cwd=upstream)
    (upstream / "a.txt").write_text("2\n")
    git("commit", "-q", "-am", "two", cwd=upstream)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    repo = upstream.as_uri()

    ok = subprocess.run(["sh", str(SCRIPTS / "bench-checkout"), repo, pinned], capture_output=True, text=True,
                        env={**env, "BENCH_SRC": str(tmp_path / "src")})
    assert ok.returncode == 0, ok.stderr
    assert git("rev-parse", "HEAD", cwd=tmp_path / "src") == pinned
    assert (tmp_path / "src" / "a.txt").read_text() == "1\n"

    short = subprocess.run(["sh", str(SCRIPTS / "bench-checkout"), repo, "HEAD"], capture_output=True,
                           text=True, env={**env, "BENCH_SRC": str(tmp_path / "short")})
    assert short.returncode != 0 and "must be the full 40-hex SHA" in short.stderr

    usage = subprocess.run(["sh", str(SCRIPTS / "bench-checkout"), repo, ""], capture_output=True, text=True,
                           env=env)
    assert usage.returncode == 2 and "usage" in usage.stderr
