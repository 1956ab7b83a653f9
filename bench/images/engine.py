"""Container engines (Docker, Podman) as bench calls them: one bounded command at a time, with the host's quirks
as options, never hard-coded: `BENCH_ENGINE_OPTIONS` (global, before the subcommand, e.g. Podman's
`--runtime runc`) and `BENCH_CONTAINER_OPTIONS` (given to `run` and `build`, e.g. explicit `--ulimit`s where the
process may not raise limits), both split like a shell would."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

from bench.errors import BenchError

ENGINES = ("docker", "podman")
ENGINE_TIMEOUT_S = 120.0  # any engine command other than `run` and `build` (stop, rm, inspect) is bounded


def engine_options(variable: str) -> list[str]:
    """Extra engine arguments from the environment (empty when unset)."""
    try:
        return shlex.split(os.environ.get(variable, ""))
    except ValueError as exc:
        raise BenchError(f"{variable}: not a valid argument list ({exc})") from None


def engine_argv(engine: str, *args: str) -> list[str]:
    return [engine, *engine_options("BENCH_ENGINE_OPTIONS"), *args]


def engine_call(engine: str, *args: str, check: bool = True) -> str:
    """One bounded engine command; its stdout. Failures are one line."""
    argv = engine_argv(engine, *args)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=ENGINE_TIMEOUT_S)
    except FileNotFoundError:
        raise BenchError(f"{engine}: not found on PATH (install it, or choose another --launcher)") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"{shlex.join(argv)}: no answer in {ENGINE_TIMEOUT_S:g} s") from None
    if check and done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        raise BenchError(f"{engine} {args[0]}: {last}")
    return done.stdout


def image_facts(engine: str, image: str) -> dict[str, object]:
    """The image's ID and digests as the engine reports them (what the record holds)."""
    out = engine_call(engine, "image", "inspect", image)
    try:
        info = json.loads(out)[0]
    except (ValueError, IndexError, KeyError):
        raise BenchError(f"{engine} image inspect {image}: unexpected output") from None
    return {"engine": engine, "image": image, "id": info.get("Id"), "digests": info.get("RepoDigests") or []}
