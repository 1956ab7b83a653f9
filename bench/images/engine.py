"""Container engines (Docker, Podman) as bench calls them: one bounded command at a time, with the host's
quirks as options, never hard-coded: `BENCH_ENGINE_OPTIONS` (global, before the subcommand, e.g. Podman's
`--runtime runc`) and `BENCH_CONTAINER_OPTIONS` (given to `run` and `build`, e.g. explicit `--ulimit`s where
the process may not raise limits), both split like a shell would."""

from __future__ import annotations

import json
import os
import shlex

from bench.errors import BenchError
from bench.external import call
from bench.vocabulary import EnvVar

ENGINES = ("docker", "podman")
ENGINE_TIMEOUT_S = 120.0  # any engine command other than `run` and `build` (stop, rm, inspect) is bounded


def engine_options(variable: EnvVar) -> list[str]:
    """Extra engine arguments from the environment (empty when unset)."""
    try:
        return shlex.split(os.environ.get(variable, ""))
    except ValueError as exc:
        raise BenchError(f"{variable}: not a valid argument list ({exc})") from None


def engine_argv(engine: str, *args: str) -> list[str]:
    return [engine, *engine_options(EnvVar.ENGINE_OPTIONS), *args]


def engine_call(engine: str, *args: str, check: bool = True) -> str:
    """One bounded engine command; its stdout. Failures are one line."""
    return call(engine_argv(engine, *args), timeout=ENGINE_TIMEOUT_S, check=check,
                missing="install it, or choose another --launcher").stdout


def image_facts(engine: str, image: str) -> dict[str, object]:
    """The image's ID and digests as the engine reports them (what the record holds)."""
    out = engine_call(engine, "image", "inspect", image)
    try:
        info = json.loads(out)[0]
    except (ValueError, IndexError, KeyError):
        raise BenchError(f"{engine} image inspect {image}: unexpected output") from None
    return {"engine": engine, "image": image, "id": info.get("Id"), "digests": info.get("RepoDigests") or []}
