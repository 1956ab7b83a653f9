"""bench/envs: a virtual environment per recipe variant, its install steps, reuse, a failed step, package
versions.

The install step installs a one-module wheel written by hand into tmp_path, with `pip install --no-index`: no
network, a few seconds per environment (most of it is `python -m venv` with pip)."""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.envs import MARKER, ensure_environment, environment_dir, environment_key, installed_packages
from bench.errors import BenchError


def dummy_wheel(directory: Path, name: str = "benchdummy", version: str = "0.3.1") -> Path:
    """A minimal valid wheel (a module, METADATA, WHEEL, RECORD) that pip installs offline."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}.py": f"VERSION = {version!r}\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: bench-tests\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def recipe(name: str, install: list[str], env: dict[str, str] | None = None) -> SimpleNamespace:
    return SimpleNamespace(name=name, install=install, env=env or {}, stack_pins=None)


@pytest.fixture
def cache(bench_env) -> Path:
    return bench_env.cache


@pytest.fixture
def no_pip(monkeypatch):
    """Environments without pip (creating one with pip takes ~20 s on a loaded 2-core machine)."""
    import bench.envs

    monkeypatch.setattr(bench.envs, "VENV_OPTIONS", ("--without-pip",))


def test_no_install_steps_use_benchs_own_python(cache):
    env = ensure_environment(recipe("plain", []), None)
    assert env.python == Path(sys.executable) and env.packages == {} and env.path is None
    assert not (cache / "envs").exists()


def test_install_then_reuse_with_package_versions(cache, tmp_path, capsys):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    dummy_wheel(wheels)
    counter = tmp_path / "steps-run.txt"
    r = recipe("tiny", [f"{{python}} -m pip install --no-index --find-links {wheels} benchdummy==0.3.1",
                        f"echo ran >> {counter}"])
    first = ensure_environment(r, None, log=lambda line: None)
    assert first.path == environment_dir(r, None) and first.path.parent == cache / "envs"
    assert first.path.name.startswith("tiny-") and not first.reused
    assert first.python == first.path / "bin" / "python" and first.python.exists()
    assert first.packages.get("benchdummy") == "0.3.1"
    assert (first.path / MARKER).is_file() and "benchdummy" in (first.path / "install.log").read_text()
    # the module is importable from the environment's interpreter, not from bench's
    assert installed_packages(first.python)["benchdummy"] == "0.3.1"
    assert "benchdummy" not in installed_packages(Path(sys.executable))

    said = []
    second = ensure_environment(r, None, log=said.append)
    assert second.reused and second.path == first.path and second.packages == first.packages
    assert counter.read_text() == "ran\n"  # the steps did not run again
    assert any("reusing" in line for line in said)


def test_failed_step_is_one_line_with_the_log_tail_and_is_rebuilt_next_time(cache, tmp_path, no_pip):
    flag = tmp_path / "fail"
    flag.write_text("")
    r = recipe("broken", ["echo first step ok", f"echo 'compiler said: boom'; test ! -e {flag}"])
    said = []
    with pytest.raises(BenchError) as caught:
        ensure_environment(r, None, log=said.append)
    message = str(caught.value)
    assert "\n" not in message
    assert "install step 2/2 failed with exit status 1" in message and "install.log" in message
    assert any("compiler said: boom" in line for line in said)  # the tail was shown
    env_dir = environment_dir(r, None)
    assert not (env_dir / MARKER).exists() and (env_dir / "install.log").is_file()

    flag.unlink()  # fixed: the unfinished environment is removed and built again
    said.clear()
    env = ensure_environment(r, None, log=said.append)
    assert not env.reused and (env.path / MARKER).is_file()
    assert any("unfinished" in line for line in said)


def test_key_follows_the_pins(tmp_path):
    a = recipe("x", ["{python} -m pip install foo==1"])
    assert environment_key(a, None) == environment_key(recipe("x", ["{python} -m pip install foo==1"]), None)
    assert environment_key(a, None) != environment_key(recipe("x", ["{python} -m pip install foo==2"]), None)
    assert environment_key(a, None) != environment_key(recipe("x", a.install, {"CC": "clang"}), None)
    with_source = recipe("x", ["{python} -m pip install -e {source}"])
    assert environment_key(with_source, tmp_path / "a") != environment_key(with_source, tmp_path / "b")


def test_steps_see_the_environment_first_on_path_and_run_in_the_source(cache, tmp_path, no_pip):
    source = tmp_path / "src"
    source.mkdir()
    out = tmp_path / "seen.txt"
    r = recipe("where", [f"(pwd; command -v python; echo $VIRTUAL_ENV; echo $BENCH_TEST_VAR) > {out}"],
               {"BENCH_TEST_VAR": "from-recipe"})
    env = ensure_environment(r, source, log=lambda line: None)
    cwd, python, venv, var = out.read_text().split()
    assert Path(cwd) == source.resolve() and Path(python) == env.path / "bin" / "python"
    assert Path(venv) == env.path and var == "from-recipe"


def test_activation_puts_the_environment_first_on_path(tmp_path):
    from bench.envs import Environment

    env = Environment(python=tmp_path / "e" / "bin" / "python", path=tmp_path / "e")
    activated = env.activated({"PATH": "/usr/bin", "VIRTUAL_ENV": "/elsewhere", "HOME": "/root"})
    assert (activated["PATH"] == f"{tmp_path / 'e' / 'bin'}:/usr/bin"
            and activated["VIRTUAL_ENV"] == str(tmp_path / "e"))
    assert activated["HOME"] == "/root"
    assert Environment(python=Path(sys.executable)).activated({"PATH": "/usr/bin"}) == {"PATH": "/usr/bin"}


def test_a_commit_the_user_supplies_is_part_of_the_environment_key(monkeypatch) -> None:
    """Steps that build at $BENCH_..._COMMIT (no commit was published) get a new environment for a new
    commit."""
    from bench.envs import environment_key
    from bench.recipes import find_recipe

    recipe = find_recipe("maskrcnn-benchmark")
    assert any("BENCH_APEX_COMMIT" in step for step in recipe.install)
    monkeypatch.setenv("BENCH_APEX_COMMIT", "a" * 40)
    first = environment_key(recipe, None)
    monkeypatch.setenv("BENCH_APEX_COMMIT", "b" * 40)
    assert environment_key(recipe, None) != first
