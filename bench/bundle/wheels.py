"""Wheels of an environment: which distributions it installed itself (not its layer's), and the wheel file of
each, taken through pip's own `pip wheel` (pip's cache holds what it downloaded or built from an sdist while
the environment was built, so nothing is fetched or compiled twice)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.envs import site_packages
from bench.errors import BenchError

# Distributions every virtual environment starts with (ensurepip): never carried.
SEEDED = {"pip"}

_OWN_SCRIPT = """
import importlib.metadata as md, json, sys
print(json.dumps(sorted({(d.metadata["Name"], d.version) for d in md.distributions(path=[sys.argv[1]])
                         if d.metadata["Name"]})))
"""


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class WheelName:
    name: str  # normalised
    version: str

    @classmethod
    def of(cls, filename: str) -> WheelName:
        parts = filename.removesuffix(".whl").split("-")
        if len(parts) < 5 or not filename.endswith(".whl"):
            raise BenchError(f"{filename}: not a wheel file name")
        return cls(normalise(parts[0]), parts[1])


def own_distributions(python: Path) -> list[tuple[str, str]]:
    """(name, version) of the distributions installed in the environment's own site-packages."""
    site = site_packages(python)
    done = subprocess.run([str(python), "-c", _OWN_SCRIPT, str(site)], capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise BenchError(f"{python}: cannot list its distributions: {done.stderr.strip()[-300:]}")
    return [(name, version) for name, version in json.loads(done.stdout) if normalise(name) not in SEEDED]


def _saved_files(output: str) -> list[str]:
    """The wheel files `pip wheel` reports (saved, or found already there)."""
    found = re.findall(r"(?:Saved|File was already downloaded) (\S+\.whl)", output)
    return [Path(name).name for name in found]


def export_wheels(python: Path, wanted: Iterable[tuple[str, str]], wheelhouse: Path, env: dict[str, str],
                  log: Path) -> dict[str, str]:
    """The wheel file of each (name, version) in `wheelhouse`, by `pip wheel --no-deps` run by `python` with
    `env` (the build's pip cache and find-links): name -> file name. A wheel already in the wheelhouse
    (another member's: torch is in every one) is taken as it is, not fetched again."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    have = {}
    for path in sorted(wheelhouse.glob("*.whl")):
        parsed = WheelName.of(path.name)
        have[(parsed.name, parsed.version)] = path.name
    found = {normalise(n): have[(normalise(n), v)] for n, v in wanted if (normalise(n), v) in have}
    wanted = sorted({(n, v) for n, v in wanted if normalise(n) not in found})
    if not wanted:
        return found
    args = [str(python), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir",
            str(wheelhouse), *[f"{name}=={version}" for name, version in wanted]]
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(args)}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise BenchError(f"collecting the wheels of {python.parent.parent.name} failed: {last} (log: {log})")
    by_name = {}
    for filename in _saved_files(done.stdout):
        parsed = WheelName.of(filename)
        by_name[parsed.name] = filename
    missing = [name for name, _ in wanted if normalise(name) not in by_name]
    if missing:
        raise BenchError(f"pip wheel did not report a wheel for {', '.join(missing)} (log: {log})")
    return {**found, **{normalise(name): by_name[normalise(name)] for name, _ in wanted}}


def build_wheel(python: Path, requirement: str, out: Path, env: dict[str, str], log: Path) -> Path:
    """`pip wheel --no-deps --no-build-isolation REQUIREMENT` into `out` (a checkout, or name==version);
    the wheel built."""
    args = [str(python), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out),
            requirement]
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"\n$ {' '.join(args)}\n")
        handle.flush()
        done = subprocess.run(args, stdout=handle, stderr=subprocess.STDOUT, env=env)
    built = sorted(out.glob("*.whl"))
    if done.returncode != 0 or not built:
        raise BenchError(f"building a wheel of {requirement} failed (exit status {done.returncode}; log: "
                         f"{log})")
    return built[0]
