"""bench as an installed package (`pip install .`, not editable): the wheel carries recipes/, patches/,
docker/ and the protocols, an installed copy finds them without the source checkout, and writes results under
the working directory. What the wheel must hold is taken from `git ls-files`, not from setup.py or
bench.paths."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = "detection-bench"
SHIPPED_DIRS = ("recipes", "patches", "docker")  # shipped as bench/_data/<dir>/ (setup.py)
BENCH_VARS = ("BENCH_RECIPES", "BENCH_PATCHES", "BENCH_RESULTS", "PYTHONPATH")


def tracked(*pathspecs: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--", *pathspecs], capture_output=True,
                         text=True, check=True).stdout
    return sorted(name for name in out.split("\0") if name)


def source_copy(dest: Path) -> Path:
    """The checkout's tracked files (results/ left out) copied to `dest`: a build that sees no stale build/
    folder and writes nothing into the checkout."""
    for name in tracked(".", ":!results"):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without bench's overrides and PYTHONPATH (the checkout must not be importable)."""
    return {**{k: v for k, v in os.environ.items() if k not in BENCH_VARS}, **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = source_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(out), str(source)], capture_output=True, text=True, check=True, timeout=120)
    (built,) = out.glob("*.whl")
    return built


def test_wheel_holds_every_recipe_patch_docker_file_and_protocol(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {name.removeprefix("bench/_data/") for name in names if name.startswith("bench/_data/")}
    # every one, and nothing else (no __pycache__, no stray files)
    assert shipped == set(tracked(*SHIPPED_DIRS))
    assert {"recipes/builtin.toml", "recipes/stacks/current.toml",
            "patches/matterport/benchmark-hyperparameters.diff", "docker/builtin/Dockerfile",
            "docker/base/scripts/bench-checkout"} <= shipped
    protocols = tracked("bench/protocol/*.toml")
    assert "bench/protocol/protocol_1.toml" in protocols and set(protocols) <= names
    assert set(tracked("bench/*.py")) <= names  # every module, in whatever subpackage it is


def test_wheel_keeps_the_executable_bits_the_dockerfiles_rely_on(wheel: Path) -> None:
    infos = {info.filename: info for info in zipfile.ZipFile(wheel).infolist()}
    scripts = tracked("docker/base/scripts")
    assert scripts
    for name in scripts:
        mode = infos[f"bench/_data/{name}"].external_attr >> 16
        assert mode & stat.S_IXUSR == (ROOT / name).stat().st_mode & stat.S_IXUSR, name


def test_wheel_metadata_names_the_distribution_and_no_kubernetes_client(wheel: Path) -> None:
    assert wheel.name.startswith(DISTRIBUTION.replace("-", "_") + "-")
    archive = zipfile.ZipFile(wheel)
    info = next(name.split("/")[0] for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
    metadata = archive.read(f"{info}/METADATA").decode()
    assert f"Name: {DISTRIBUTION}\n" in metadata
    requires = [line.split(":", 1)[1].split(";")[0].strip() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    assert requires and not [r for r in requires if r.split(">")[0].split("=")[0].strip() == "kubernetes"]
    assert "\nbench = " in "\n" + archive.read(f"{info}/entry_points.txt").decode()


def test_an_unpacked_wheel_finds_its_data_without_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """The wheel's files as pip lays them out, imported from there (no checkout on sys.path), from another
    directory: every recipe listed, patches and Dockerfiles under the package data, results under the cwd."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = clean_env(PYTHONPATH=str(site))
    listed = subprocess.run([sys.executable, "-m", "bench.cli", "list", "--json"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    recipes = sorted(Path(n).stem for n in tracked("recipes/*.toml") if "/" not in n.removeprefix("recipes/"))
    assert len(recipes) > 10 and sorted(r["name"] for r in json.loads(listed.stdout)) == recipes
    probe = ("import json; from bench import paths; from bench.images.build import build_steps; "
             "from bench.recipes.loader import find_recipe; "
             "from bench.records.environment import bench_commit; "
             "steps = build_steps(find_recipe('matterport')); "
             "print(json.dumps({'checkout': str(paths.source_checkout()), 'data': str(paths.data_root()), "
             "'patches': str(paths.patches_dir()), 'results': str(paths.results_dir()), "
             "'commit': bench_commit(), "
             "'dockerfiles': [str(s.dockerfile) for s in steps], 'context': str(steps[-1].context), "
             "'relative': paths.repo_relative(paths.recipes_dir() / 'builtin.toml')}))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    data = site / "bench" / "_data"
    assert found["checkout"] == "None" and found["commit"] is None
    assert found["data"] == str(data) and found["patches"] == str(data / "patches")
    assert found["results"] == str(cwd / "results")
    assert found["dockerfiles"] == [str(data / "docker/base/py37/Dockerfile"),
                                    str(data / "docker/matterport/Dockerfile")]
    # what the Dockerfiles COPY (patches/, docker/base/scripts/) is there
    assert found["context"] == str(data)
    assert found["relative"] == "recipes/builtin.toml"  # as a record from a checkout names it


def test_no_recipe_files_is_one_line_naming_the_directory(tmp_path: Path) -> None:
    empty = tmp_path / "recipes"
    empty.mkdir()
    for args in (["list"], ["show", "builtin"]):
        done = subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120,
                              env=clean_env(BENCH_RECIPES=str(empty), PYTHONPATH=str(ROOT)))
        assert done.returncode == 2 and done.stdout == "", (args, done.stdout)
        assert done.stderr.count("\n") == 1 and str(empty) in done.stderr and "BENCH_RECIPES" in done.stderr


def test_results_follow_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.paths import results_dir, runs_dir

    monkeypatch.delenv("BENCH_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert results_dir() == tmp_path / "results" and runs_dir() == tmp_path / "results" / "runs"
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path / "elsewhere"))
    assert results_dir() == tmp_path / "elsewhere"


def test_an_installed_copy_refuses_to_build_the_image_that_needs_bench_s_own_wheel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.errors import BenchError
    from bench.images import build
    from bench.recipes.loader import find_recipe

    monkeypatch.setattr(build, "source_checkout", lambda: None)
    out = tmp_path / "wheels"
    with pytest.raises(BenchError, match="installed copy"):
        build.wheelhouse(find_recipe("builtin"), out)
    assert not out.exists()  # refused before anything was written or downloaded


@pytest.mark.slow
def test_pip_install_then_list_and_run_builtin_from_another_directory(tmp_path: Path) -> None:
    """The real thing: a fresh venv, `pip install .` (not editable; dependencies from pip's cache or the
    index), then from a temporary working directory: `bench list` lists every recipe, an empty $BENCH_RECIPES
    is one line and exit 2, and the built-in smoke preset writes its record under that directory's
    results/."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    started = time.monotonic()
    venv = tmp_path / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        source = source_copy(tmp_path / "src")
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(source)], check=True, timeout=1200)
        bench = str(venv / "bin" / "bench")
        cwd = tmp_path / "work"
        cwd.mkdir()
        env = clean_env()

        listed = subprocess.run([bench, "list", "--json"], cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=120)
        assert listed.returncode == 0, listed.stderr
        names = sorted(r["name"] for r in json.loads(listed.stdout))
        assert names == sorted(p.stem for p in (ROOT / "recipes").glob("*.toml"))
        (tmp_path / "empty").mkdir()
        empty = subprocess.run([bench, "list"], cwd=cwd,
                               env={**env, "BENCH_RECIPES": str(tmp_path / "empty")},
                               capture_output=True, text=True, timeout=120)
        assert (empty.returncode == 2 and empty.stderr.count("\n") == 1
                and str(tmp_path / "empty") in empty.stderr)

        # torch and torchvision from this interpreter's environment, after the venv's own packages (not
        # reinstalled)
        site = next((venv / "lib").glob("python3*/site-packages"))
        (site / "zz_torch_from_the_test.pth").write_text(str(Path(torch.__file__).resolve().parents[1])
                                                         + "\n")
        run = subprocess.run([bench, "run", "builtin", "--preset", "smoke", "--no-env", "--window", "5:10",
                              "--no-progress", "--grace", "5"], cwd=cwd, env=env, capture_output=True,
                             text=True, timeout=1200)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        (record,) = (cwd / "results" / "runs").glob("*-builtin/record.json")
        saved = json.loads(record.read_text())
        assert saved["status"] == "ok" and saved["provenance"]["recipe_path"] == "recipes/builtin.toml"
        assert not list(site.glob("**/runs/*/record.json")) and not (site / "results").exists()
        print(f"slow packaging test: {time.monotonic() - started:.0f} s")
    finally:  # the venv and the source copy are large: gone now, not when pytest prunes its old temp folders
        shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(tmp_path / "src", ignore_errors=True)
