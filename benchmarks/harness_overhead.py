"""Harness overhead: the same stand-in trainer run bare (stdout to a file), under `bench run --no-telemetry`
and under `bench run` (its telemetry sampler beside the run, the default), several times, interleaved.

Prints, per workload, the median wall time of the whole command and the median img/s the trainer's own log
gives (iterations 21-401 of a 421-iteration schedule, so that `bench run` stops it where the bare run ends by
itself), the ratios bench / bare, and the ratio of img/s with telemetry to without (the sampler must not slow
the trainer: >= 0.99), and the sampler's own CPU over its life in % of one core (its start-up included).
Workloads:
  paced    the iteration time is a sleep (a GPU-bound trainer): capture must not delay the prints
  busy     fixed CPU work per iteration: the harness's threads compete with the trainer for the CPU
  chatter  busy, plus 50 lines of another logger per iteration: capture under a heavy line rate

    .venv/bin/python benchmarks/harness_overhead.py [--repeats 3] [--iterations 421] [--workloads paced,busy]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests" / "trainer_standin.py"
sys.path[:0] = [str(ROOT), str(STANDIN.parent)]

from trainer_standin import burn, recipe_text  # noqa: E402

from bench.measure.assess import parse_file  # noqa: E402

def calibrate_busy(target_s: float = 0.01) -> int:
    loops = 100_000
    start = time.perf_counter()
    burn(loops)
    return max(1000, int(loops * target_s / (time.perf_counter() - start)))


def bare(args: list[str], iterations: int, work: Path, window: tuple[int, int]) -> tuple[float, float]:
    log = work / "bare.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ANSI_COLORS_DISABLED": "1"}
    start = time.perf_counter()
    with open(log, "wb") as out:
        subprocess.run([sys.executable, str(STANDIN), "--format", "torchvision", "--max-iter",
                        str(iterations), *args], stdout=out, stderr=subprocess.DEVNULL, env=env, check=True)
    wall = time.perf_counter() - start
    _, m = parse_file(log, "torchvision", 2, window)
    return wall, m.throughput_img_s


def under_bench(args: list[str], iterations: int, work: Path, window: tuple[int, int],
                telemetry: bool = True) -> tuple[float, float, float, float | None]:
    recipe = work / "overhead.toml"
    recipe.write_text(recipe_text("torchvision", window=window,
                                  args=" ".join(["--max-iter", str(iterations), *args]), name="overhead"))
    env = {**os.environ, "BENCH_RESULTS": str(work / "results")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench.cli", "run", "--recipe", str(recipe), "--no-progress",
                    "--telemetry" if telemetry else "--no-telemetry"],
                   env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    newest = sorted((work / "results" / "runs").glob("*/record.json"))[-1]
    record = json.loads(newest.read_text())
    telemetry = record.get("telemetry")
    sampler_cpu = telemetry["sampler"]["own_cpu_percent"] if telemetry else None
    return (wall, record["framework_timing"]["throughput_img_s"], record["harness_clock"]["throughput_img_s"],
            sampler_cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=421)
    ap.add_argument("--workloads", default="paced,busy,chatter", help="comma-separated: paced,busy,chatter")
    opts = ap.parse_args()
    window = (20, opts.iterations - 20)  # the margin line at `iterations` is the bare run's last line
    loops = calibrate_busy()
    workloads = {"paced": ["--times", "0.01"], "busy": ["--busy", str(loops)],
                 "chatter": ["--busy", str(loops), "--chatter", "50"]}
    print(f"{opts.iterations} iterations, window {window[0]}:{window[1]}, {opts.repeats} repeats, "
          f"{os.cpu_count()} CPUs, busy = {loops} loops")
    print(f"{'workload':9} {'bare wall s':>11} {'bench wall s':>12} {'ratio':>6}   {'bare img/s':>10} "
          f"{'no-tel img/s':>12} {'bench img/s':>11} {'ratio':>6}   {'tel/no-tel':>10}   "
          f"{'bench clock img/s':>17}   {'sampler CPU %':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in opts.workloads.split(","):
            args = workloads[name]
            rows_bare, rows_off, rows_bench = [], [], []
            for _ in range(opts.repeats):  # interleaved, so that drift in the machine hits all alike
                rows_bare.append(bare(args, opts.iterations, Path(tmp), window))
                rows_off.append(under_bench(args, opts.iterations, Path(tmp), window, telemetry=False))
                rows_bench.append(under_bench(args, opts.iterations, Path(tmp), window))
            wall_bare = statistics.median(r[0] for r in rows_bare)
            wall_bench = statistics.median(r[0] for r in rows_bench)
            tput_bare = statistics.median(r[1] for r in rows_bare)
            tput_off = statistics.median(r[1] for r in rows_off)
            tput_bench = statistics.median(r[1] for r in rows_bench)
            clock = statistics.median(r[2] for r in rows_bench)
            sampler_cpu = statistics.median(r[3] for r in rows_bench)
            print(f"{name:9} {wall_bare:11.2f} {wall_bench:12.2f} {wall_bench / wall_bare:6.3f}   "
                  f"{tput_bare:10.2f} {tput_off:12.2f} {tput_bench:11.2f} {tput_bench / tput_bare:6.4f}   "
                  f"{tput_bench / tput_off:10.4f}   {clock:17.2f}   {sampler_cpu:13.2f}")


if __name__ == "__main__":
    main()
