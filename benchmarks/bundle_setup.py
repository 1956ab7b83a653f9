"""How long setting up the suite's members from an existing bundle takes (issue 24 asks for under 3 minutes
for the three members of the current suite on the 2-core development machine).

    python benchmarks/bundle_setup.py BUNDLE [--members detectron2-current,mmdetection-current,builtin]

Each member is set up with `bench setup NAME --bundle BUNDLE` into one fresh, empty BENCH_CACHE (a temporary
folder, removed afterwards), one after the other, as `bench run --suite --bundle` does before its first
launch: source cloned from the bundle and patched, environment installed from its wheels with no index,
synthetic data generated. Prints each member's seconds and the total, and the bundle's verification alone
(hashing every file). No network is needed; run it inside `unshare -n` to prove it."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--members", default="detectron2-current,mmdetection-current,builtin")
    args = parser.parse_args()
    from bench.bundle.manifest import open_bundle

    started = time.monotonic()
    bundle = open_bundle(args.bundle)
    size = sum(entry.size for entry in bundle.manifest.files.values())
    print(f"verify   {time.monotonic() - started:6.1f} s  ({len(bundle.manifest.files)} files, "
          f"{size / 2**20:.0f} MiB hashed)")
    cache = Path(tempfile.mkdtemp(prefix="bench-bundle-setup-"))
    env = {**os.environ, "BENCH_CACHE": str(cache)}
    total = 0.0
    try:
        for member in args.members.split(","):
            command = [sys.executable, "-m", "bench.cli", "setup", member, "--bundle", str(args.bundle)]
            seconds = timed(command, env)
            total += seconds
            print(f"{member:<20} {seconds:6.1f} s")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"{'total':<20} {total:6.1f} s  (each setup verifies the bundle again)")


if __name__ == "__main__":
    main()
