"""A newcomer's first hour (issue 27): one rounding rule, `bench --version`, `bench plan` refusing what
`bench run` refuses, output right off a terminal, the window hint of `bench parse`, `bench table` without
records and beside the repository's published rows, heartbeats off a terminal, the host's load in the record,
and what `bench parse` does not import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.cli import app
from bench.numbers import duration, sig3
from bench_roots import BenchEnv
from bench_runs import invoke
from table_records import V100, make_record
from writers import write_torchvision_log

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str) -> tuple[int, str, str]:
    """`bench ARGS` in this process, as the console script runs it (a BenchError: one line, exit status 2)."""
    return invoke(app, list(args))


@pytest.mark.parametrize("value, shown", [
    (0.05836, "0.0584"), (0.0999, "0.0999"), (0.09996, "0.100"), (0.305, "0.305"), (9.996, "10.0"),
    (19.94, "19.9"), (28.0, "28.0"), (61.5, "61.5"), (1234.5, "1230"), (0, "0"), (None, ""),
    (float("nan"), ""),
])
def test_one_rounding_rule_three_significant_digits(value, shown) -> None:
    assert sig3(value) == shown


def test_durations_read_as_a_person_reads_them() -> None:
    assert [duration(s) for s in (4.4, 65, 3725)] == ["4 s", "1 min 05 s", "1 h 02 min"]


def test_version_and_plan_refusals() -> None:
    code, out, _ = bench("--version")
    assert code == 0 and out.startswith("bench ") and "detection-bench" in out
    code, _, err = bench("plan", "builtin", "--gpus", "-1")
    assert code == 2 and "builtin: --gpus -1: must be 0 (CPU) or more" in err
    code, _, err = bench("plan", "detectron2", "--gpus", "0")  # as `bench run detectron2 --gpus 0` refuses
    assert code == 2 and "detectron2: --gpus 0: it runs on 1 or more GPUs" in err


def test_output_off_a_terminal_is_neither_markup_nor_cut() -> None:
    code, out, _ = bench("show", "builtin")
    assert code == 0 and "[bold]" not in out and "\nnotes\n" in out
    code, out, _ = bench("list")
    names = [p.stem for p in (ROOT / "recipes").glob("*.toml")]
    assert code == 0 and "…" not in out and all(name in out for name in names)


def test_dry_run_names_the_synthetic_dataset_by_its_path() -> None:
    code, out, _ = bench("run", "builtin", "--preset", "smoke", "--dry-run")
    launch = next(line for line in out.splitlines() if line.startswith("launch"))
    assert code == 0 and "{'" not in out and "synth-v1-n64-320x240-s0" in launch


def test_parse_hints_the_window_a_short_log_covers(tmp_path: Path) -> None:
    log = write_torchvision_log(tmp_path / "smoke.log", lambda i: 0.5, iterations=61)  # prints up to 60
    code, _, err = bench("parse", str(log))  # the default window 100:500 is beyond the log
    assert code == 1 and "hint: the log's progress lines cover iterations 1-61" in err
    window = err.split("--window ")[1].split()[0]
    code, out, _ = bench("parse", str(log), "--window", window)
    assert code == 0 and "status ok" in out


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def test_table_keeps_the_published_rows(tmp_path: Path, bench_env: BenchEnv, published_recipes: Path) -> None:
    from bench.recipes import load_all
    from bench.records.published import committed_runs
    from bench.records.store import load_records
    from bench.report.published import replaced_rows

    runs = bench_env.runs
    make_record(runs, "r1", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00")
    (bench_env.results / "README.md").write_text("the published table\n")
    git(bench_env.root, "init", "-q")
    git(bench_env.root, "add", "results")
    git(bench_env.root, "commit", "-qm", "published")
    make_record(runs, "r2", "detectron2", 40.0, created="2026-02-01T00:00:00+00:00")  # yours, same hardware
    make_record(runs, "r3", "detectron2", 90.0, created="2026-02-01T00:00:00+00:00", gpu_model="H100")
    code, _, err = bench("table")
    assert code == 1 and "the published row (r1, 2026-01-01) would become your run's (r2, 2026-02-01)" in err
    assert (bench_env.results / "README.md").read_text() == "the published table\n"  # nothing written
    assert committed_runs(runs) == {"r1"}
    records, recipes = load_records(runs), load_all()
    assert [r.local.record.run_id for r in replaced_rows(records, recipes, {"r1"})] == ["r2"]
    # a row of other hardware (r3) stands beside the published ones: it replaces nothing
    assert replaced_rows([(d, r) for d, r in records if r.run_id != "r2"], recipes, {"r1"}) == []


def test_progress_beats_off_a_terminal(capsys) -> None:
    from bench.launch.watch import HEARTBEAT_S, Progress

    progress = Progress("builtin", (20, 40), 2, enabled=True)  # pytest's stderr is not a terminal
    progress.tick(progress.started + HEARTBEAT_S / 2)
    assert capsys.readouterr().err == ""
    progress.tick(progress.started + HEARTBEAT_S + 1)
    progress.update(30, 4.0, "in window")
    progress.tick(progress.started + 2 * HEARTBEAT_S + 2)
    beats = capsys.readouterr().err.splitlines()
    assert beats[0] == "builtin [starting] (31 s since the launch; no progress line yet)"
    # 2 images / 4 s per iteration = 0.500 img/s; 10 iterations left at 4 s each = 40 s
    assert beats[1] == ("builtin [in window]  iteration 30  0.500 img/s  window 20-40 ends in ~40 s "
                        "(1 min 02 s since the launch)")


def test_install_steps_beat_and_keep_their_exit_status(tmp_path: Path, monkeypatch) -> None:
    from bench import envs

    monkeypatch.setattr(envs, "HEARTBEAT_S", 0.05)
    beats: list[float] = []
    with open(tmp_path / "install.log", "w") as out:
        code = envs._run_step("sleep 0.3; exit 3", tmp_path, {"PATH": "/usr/bin:/bin"}, out, beats.append)
    assert code == 3
    assert len(beats) >= 2 and beats == sorted(beats)


def test_host_load_is_other_processes_share_of_all_cpus() -> None:
    from bench.measure.host_load import HostLoad, Snapshot, span

    a, b = Snapshot(0.0, 10.0, 1.0, (1.0, 1.0, 1.0)), Snapshot(2.0, 13.0, 1.5, (3.0, 2.0, 1.0))
    # the machine was busy 3 CPU-seconds in 2 s, 0.5 of them bench's own: 2.5 / (2 s x 2 CPUs) = 62.5 %
    assert span(a, b, cpus=2)["others_cpu_pct"] == 62.5
    assert span(a, b, cpus=2, others_known=False)["others_cpu_pct"] is None
    load = HostLoad(cpus=2, begun=a)
    load.spans = {"before": span(a, b, 2)}
    assert "62 % of its 2 CPUs before the launch" in load.warning().message
    load.spans = {"before": span(a, b, 4)}  # 31 % of 4 CPUs: not busy
    assert load.warning() is None


# A child that stays alive (as bench's supervisor does until the record is written) after reaping a grandchild
# that spent about a second of CPU (as the trainer does).
REAPER = """
import subprocess, sys, time
burn = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 1: pass"
subprocess.run([sys.executable, "-c", burn])
print("reaped", flush=True)
time.sleep(60)
"""


def test_host_load_counts_what_a_live_child_reaped_as_bench_s() -> None:
    """The trainer's CPU is bench's, not another process's, though bench reaps the supervisor only later."""
    from bench.measure.host_load import Snapshot

    before = Snapshot.now()
    child = subprocess.Popen([sys.executable, "-c", REAPER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "reaped"
        after = Snapshot.now()
    finally:
        child.kill()
        child.wait()
    assert after.own_cpu_s - before.own_cpu_s >= 0.9


def test_busy_rows_are_marked(tmp_path: Path, bench_env: BenchEnv, published_recipes: Path) -> None:
    from bench.measure.warnings import warning
    from bench.records.store import load_records, save_record
    from bench.report.generate import build
    from bench.vocabulary import WarningCode

    record = make_record(bench_env.runs, "r1", "detectron2", 60.0, created="2026-01-01T00:00:00+00:00",
                         gpu_model=V100)
    record.warnings.append(warning(WarningCode.HOST_BUSY, "the machine was busy", "re-run"))
    save_record(record, bench_env.runs / "r1")
    assert load_records(bench_env.runs)[0][1].warnings[0].code == WarningCode.HOST_BUSY
    text = build(bench_env.runs, bench_env.results / "README.md", with_images=False).pages[
        bench_env.results / "all-runs.md"]
    assert "60.0 ⚠ (busy host)" in text and "the machine was busy (re-run)" in text


def test_parse_imports_only_what_it_uses(tmp_path: Path) -> None:
    """`bench parse` of a torchvision log loads no pandas, matplotlib, numpy (mlperf-logging's), protocol or
    recipe models: what made it cost 0.46 s of CPU (benchmarks/cli_startup.py measures it)."""
    log = write_torchvision_log(tmp_path / "train.log", lambda i: 0.5, iterations=600)
    script = textwrap.dedent(f"""
        import sys
        sys.argv = ["bench", "parse", {str(log)!r}]
        from bench.cli import app
        try:
            app()
        except SystemExit:
            pass
        print(sorted(m for m in ("pandas", "matplotlib", "numpy", "bench.protocol", "bench.recipes.schema",
                                 "bench.pipeline", "bench.report", "rich.console")
                     if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "[]", done.stderr
