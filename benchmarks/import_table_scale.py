"""How `bench import mlperf` and `bench table` grow with the number of records.

    PYTHONPATH=$PWD python benchmarks/import_table_scale.py [--sizes 62,125,250,500] [--profile]

Builds a synthetic MLPerf results repository of N run logs (5 runs per system, each log ~2,700 lines:
3,000 iterations of tracked_stats every 50 steps among trainer chatter, the size of a v3.0 NVIDIA log's
progress part plus noise), imports it into a fresh records root, then renders the table (README text and
plots) from those records.
Prints seconds and milliseconds per record for each N; --profile prints the top of a cProfile of `bench table`
at the largest N. Everything is written under a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench.records.mlperf import import_results
from bench.report.generate import build, write

COMMIT = "0" * 40
RUNS_PER_SYSTEM = 5


def event(key: str, value, t_s: float, **metadata) -> str:
    return ":::MLLOG " + json.dumps({"namespace": "", "time_ms": round(t_s * 1000),
                                     "event_type": "POINT_IN_TIME", "key": key, "value": value,
                                     "metadata": {"file": "x.py", "lineno": 1, **metadata}}) + "\n"


def log_text(batch: int, seconds_per_step: float, steps: int = 3000) -> str:
    start = 1_684_011_440.0
    parts = [event("submission_org", "Synthetic", start), event("global_batch_size", batch, start),
             event("run_start", None, start)]
    for step in range(1, steps + 1):
        if step % 50 == 0:
            mean = seconds_per_step * (1 + 0.5 / step)
            stats = {"time": mean, "data": 0.001, "loss": 1.0, "throughput": batch / mean}
            parts.append(event("tracked_stats", stats, start + mean * step, step=step))
        if step % 2 == 0:  # the rest of a real log: warnings, eval output, NCCL lines
            parts.append(f"NCCL INFO Channel {step % 32:02d} : 0[0] -> 1[1] via P2P/IPC, step {step}\n")
    parts.append(event("run_stop", None, start + seconds_per_step * steps, status="success"))
    return "".join(parts)


def make_repository(root: Path, logs: int) -> None:
    for index in range(logs):
        system, run = divmod(index, RUNS_PER_SYSTEM)
        name = f"sys{system:03d}_n{1 + system % 4}"
        systems = root / "Synthetic" / "systems"
        systems.mkdir(parents=True, exist_ok=True)
        (systems / f"{name}.json").write_text(json.dumps({
            "submitter": "Synthetic", "division": "closed", "status": "onprem",
            "number_of_nodes": 1 + system % 4, "accelerators_per_node": 8,
            "accelerator_model_name": ["A100-SXM4-80GB", "H100-SXM5-80GB"][system % 2],
            "framework": "PyTorch NVIDIA Release 23.04"}))
        path = root / "Synthetic" / "results" / name / "maskrcnn" / f"result_{run}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(log_text(96 * (1 + system % 4), 0.06 + 0.001 * run))


def measure(logs: int, work: Path, profile: bool) -> tuple[float, float]:
    repo, runs, out = work / f"training_results_v3.0-{logs}", work / f"runs-{logs}", work / f"table-{logs}"
    make_repository(repo, logs)
    t0 = time.perf_counter()
    report = import_results(repo, runs, repo="https://example.invalid/training_results_v3.0", commit=COMMIT)
    t1 = time.perf_counter()
    assert len(report.written) == logs, report.rejected[:3]
    out.mkdir()
    profiler = cProfile.Profile() if profile else None
    t2 = time.perf_counter()
    if profiler:
        profiler.enable()
    write(build(runs, out / "README.md"))
    if profiler:
        profiler.disable()
    t3 = time.perf_counter()
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(18)
    return t1 - t0, t3 - t2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="62,125,250,500")
    parser.add_argument("--profile", action="store_true", help="cProfile `bench table` at the largest size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'records':>8} {'import s':>9} {'ms/record':>10} {'table s':>8} {'ms/record':>10}")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for size in sizes:
            imported, table = measure(size, Path(tmp), args.profile and size == max(sizes))
            print(f"{size:>8} {imported:>9.2f} {1000 * imported / size:>10.1f} {table:>8.2f} "
                  f"{1000 * table / size:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
