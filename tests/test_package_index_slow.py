"""Slow tier: every `name==version` that a recipe or a Dockerfile pins (tests/package_pins.py) is asked of the
package index, for the Python version and glibc of the image it installs into, with pip itself:

1. a wheel: `pip download --no-deps --only-binary=:all: --python-version X.Y --implementation cp --platform
   manylinux_2_N_x86_64 ... (every older manylinux tag too) -d TMP name==version`;
2. else an sdist: `pip index versions name --pre --no-binary=:all: --python-version X.Y` lists the version.
   Not `pip download` of the sdist: it builds the sdist's metadata with the host's interpreter, which fails
   for old sdists that import numpy, Cython or torch in setup.py (pycocotools 2.0.0, mmcv 2.1.0) although
   they exist.

The answers must equal tests/package_index.toml (what the fast tier checks against). Pins behind a custom
index (download.pytorch.org) are not reachable here: tests/test_package_index.py lists them with their URL.

pip runs with no configuration file and without this machine's find-links, so only the default index answers;
downloads go to the test's tmp dir, no pip cache, each file removed once its name is read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from package_pins import index_pins, manylinux_platforms, recorded

pytestmark = pytest.mark.slow


def pip(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") or k in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no config file: no machine-local index, find-links or constraints
    return subprocess.run([sys.executable, "-m", "pip", *args, "--no-cache-dir",
                           "--disable-pip-version-check"],
                          capture_output=True, text=True, env=env, timeout=300)


def find_wheel(requirement: str, python: str, platform: str, dest) -> str | None:
    dest.mkdir()
    platforms = [arg for tag in manylinux_platforms(platform) for arg in ("--platform", tag)]
    done = pip("download", "--no-deps", "--only-binary=:all:", "--python-version", python, "--implementation",
               "cp", *platforms, "-d", str(dest), requirement)
    files = sorted(p.name for p in dest.iterdir())
    shutil.rmtree(dest)
    return files[0] if done.returncode == 0 and len(files) == 1 else None


def sdist_listed(requirement: str, python: str) -> bool:
    name, _, version = requirement.partition("==")
    done = pip("index", "versions", name, "--pre", "--no-binary=:all:", "--python-version", python,
               "--implementation", "cp")
    listed = next((line.split(":", 1)[1] for line in done.stdout.splitlines()
                   if line.startswith("Available versions:")), "")
    return Version(version) in {Version(v.strip()) for v in listed.split(",") if v.strip()}


def ask_index(key: tuple[str, str, str], dest) -> str:
    requirement, python, platform = key
    wheel = find_wheel(requirement, python, platform, dest)
    if wheel is not None:
        return wheel
    return "sdist" if sdist_listed(requirement, python) else "not found"


def test_every_pin_is_on_the_index_as_recorded(tmp_path):
    keys = sorted({pin.key for pin in index_pins()})
    started = time.monotonic()
    answers = {key: ask_index(key, tmp_path / f"d{i}") for i, key in enumerate(keys)}
    elapsed = time.monotonic() - started
    record = recorded()
    problems = [f"{' '.join(key)}: index says {found!r}, tests/package_index.toml says {record.get(key)!r}"
                for key, found in answers.items() if record.get(key) != found]
    stale = [" ".join(key) for key in set(record) - set(answers)]
    print(f"{len(keys)} pins asked in {elapsed:.0f} s")
    assert not problems, "\n".join(problems)
    assert not stale, "recorded but pinned nowhere: " + ", ".join(sorted(stale))
    # a wheel's name says what the index gave: the pin, for this interpreter
    for key, found in answers.items():
        if found.endswith(".whl"):
            name, version = found.split("-")[:2]
            pinned_name, _, pinned_version = key[0].partition("==")
            assert canonicalize_name(name) == canonicalize_name(pinned_name), found
            assert Version(version) == Version(pinned_version), found


def record_text(answers: dict[tuple[str, str, str], str]) -> str:
    """tests/package_index.toml's [[pin]] tables for these answers."""
    rows = [f'[[pin]]\nrequirement = "{r}"\npython = "{p}"\nplatform = "{pl}"\nfound = "{found}"\n'
            for (r, p, pl), found in sorted(answers.items())]
    return "\n".join(rows)


if __name__ == "__main__":  # regenerate the record: python tests/test_package_index_slow.py DIR > pins.toml
    import pathlib

    work = pathlib.Path(sys.argv[1])
    keys = sorted({pin.key for pin in index_pins()})
    print(record_text({key: ask_index(key, work / f"d{i}") for i, key in enumerate(keys)}))
