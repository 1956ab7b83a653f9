"""Client commands bench drives (a container engine, Slurm, kubectl): one bounded call, whose failure is one
line."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence

from bench.errors import BenchError
from bench.security import redact


def call(argv: Sequence[str], *, timeout: float, missing: str, check: bool = True,
         env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `argv` (no stdin, output captured) within `timeout` seconds. A missing program says `missing`; with
    `check`, a non-zero exit says the last line of stderr (redacted)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None)
    except FileNotFoundError:
        raise BenchError(f"{argv[0]}: not found on PATH ({missing})") from None
    except subprocess.TimeoutExpired:
        raise BenchError(f"{shlex.join(argv)}: no answer in {timeout:g} s") from None
    if check and done.returncode != 0:
        last = (done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                else f"exit status {done.returncode}")
        raise BenchError(f"{shlex.join(argv[:2])} failed: {redact(last)}")
    return done
