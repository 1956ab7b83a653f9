"""bench run by the tests: through the CLI's code in this process, as a subprocess, or as the console script;
and the records those runs leave. Every run writes under the test's bench roots (the bench_env fixture)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from bench_roots import BenchEnv

STANDIN = Path(__file__).with_name("trainer_standin.py")
STANDINS = Path(__file__).with_name("standins")  # a stand-in kubectl
# seconds per iteration printed in the stand-in pod's log: 16 images / 0.25 s = 64 img/s on 8 GPUs
STEP_S = 0.25
# What every live run's record fills in, whatever launched it (values differ; presence may not).
LIVE_FIELDS = {"run_id", "created", "implementation", "family", "variant", "title", "framework", "status",
               "exit_code", "command", "gpus", "nodes", "images_per_iter", "images_per_iter_source",
               "window_requested", "log_format", "framework_timing", "harness_clock", "clock_difference_pct",
               "last_iteration", "series", "log_files", "provenance", "deviations", "dataset", "extra"}


def run_in_process(env: BenchEnv, recipe: Path, **options) -> tuple[Path, dict]:
    """One run through the same code as the CLI, without a new interpreter's start-up per test."""
    from bench.pipeline.run import RunOptions, execute, load, resolve

    assert os.environ.get("BENCH_RESULTS") == str(env.results), "run_in_process wants the bench_env fixture"
    plan = resolve(*load(None, recipe), RunOptions(progress=False, **options))
    run_dir, _ = execute(plan)
    return run_dir, load_record(run_dir)


def bench_run(env: BenchEnv, recipe: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`bench run --recipe RECIPE --no-progress EXTRA` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "bench.cli", "run", "--recipe", str(recipe), "--no-progress",
                           *extra], capture_output=True, text=True, env=env.environ(), timeout=timeout)


def bench_k8s(args: list[str], env: BenchEnv, log: Path, **extra: str) -> subprocess.CompletedProcess:
    """`bench k8s ARGS` against tests/standins/kubectl, whose pod streams `log`; it keeps its state (and the
    calls it was asked, calls.jsonl) in the test's folder, kubectl/."""
    state = env.root / "kubectl"
    state.mkdir(exist_ok=True)
    environ = env.environ(PATH=f"{STANDINS}{os.pathsep}{os.environ['PATH']}", KUBECTL_STANDIN_DIR=str(state),
                          KUBECTL_STANDIN_LOG=str(log), **extra)
    return subprocess.run([sys.executable, "-m", "bench.cli", "k8s", *args], capture_output=True, text=True,
                          env=environ, timeout=120)


def invoke(app, args: list[str]) -> tuple[int, str, str]:
    """`bench ARGS` in this process (as the console script runs it): exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["bench", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                app()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def run_dirs(env: BenchEnv) -> list[Path]:
    return sorted(env.runs.glob("*"))


def load_record(run_dir: Path) -> dict:
    return json.loads((run_dir / "record.json").read_text())


def filled(record: dict) -> set[str]:
    """The fields of a record that hold a value."""
    return {key for key, value in record.items() if value not in (None, [], {}, "")}
