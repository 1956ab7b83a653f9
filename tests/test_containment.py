"""Nothing left behind, a record for every ending: `bench run` against real hostile trainers
(tests/hostile_trainer.py).

Each case runs the real CLI in a subprocess (with a hard timeout, so a hang fails the test instead of stalling
the suite), then checks by PID that the trainer and every process it started are gone, and reads the
record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench_runs import STANDIN
from writers import write_standin_recipe

HOSTILE = Path(__file__).with_name("hostile_trainer.py")
GRACE = "0.3"
WINDOW = (20, 40)  # about one second of training at 0.02 / 0.03 s per iteration
GONE_WITHIN_S = 10.0


def hostile_recipe(tmp: Path, hostile_args: str, *, window: tuple[int, int] = WINDOW) -> Path:
    """The stand-in's recipe with tests/hostile_trainer.py (given `hostile_args`) in the stand-in's place."""
    path = write_standin_recipe(tmp, "torchvision", window=window)
    text = path.read_text()
    assert str(STANDIN) in text, text
    path.write_text(text.replace(str(STANDIN), f"{HOSTILE} --pid-file {tmp / 'pids.json'} {hostile_args}"))
    return path


def start_bench(recipe: Path, *extra: str) -> subprocess.Popen:
    """`bench run` in a subprocess; its results go where the `tmp` fixture (through bench_env) points them."""
    return subprocess.Popen([sys.executable, "-m", "bench.cli", "run", "--recipe", str(recipe),
                             "--no-progress", "--grace", GRACE, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})


def finish(bench: subprocess.Popen, timeout: float = 20) -> tuple[int, str]:
    """bench's exit status and output; a bench that does not end in `timeout` seconds fails the test."""
    try:
        out, err = bench.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # with PYTHONFAULTHANDLER: where each of bench's threads was waiting
        bench.send_signal(signal.SIGABRT)
        out, err = bench.communicate()
        pytest.fail(f"bench run did not end within {timeout} s:\n{err[-3000:]}")
    return bench.returncode, out + err


def the_pids(tmp: Path) -> list[int]:
    """The trainer's, its descendants', and the telemetry sampler's (bench's child, beside the run): none may
    outlive the run, however it ended."""
    pids = json.loads((tmp / "pids.json").read_text())
    samplers = [json.loads(meta.read_text())["pid"]
                for meta in (tmp / "results" / "runs").glob("*/telemetry.meta.json")]
    return [pids["trainer"], *pids["descendants"], *samplers]


def survivors(pids: list[int], within: float = GONE_WITHIN_S) -> list[int]:
    """The PIDs still running (not zombies) after waiting up to `within` seconds for them to go."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


@pytest.fixture
def tmp(tmp_path, bench_env):
    """The test's directory (and bench's roots, under it); afterwards no process of its run may be left,
    whatever the test asserted."""
    yield tmp_path
    if (tmp_path / "pids.json").exists():
        for pid in the_pids(tmp_path):
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


def the_record(tmp: Path) -> dict:
    runs = sorted((tmp / "results" / "runs").glob("*"))
    assert len(runs) == 1, runs
    path = runs[0] / "record.json"
    assert path.exists(), "the run ended without a record"
    return json.loads(path.read_text())


def wait_for(predicate, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "the run never got under way"
        time.sleep(0.05)


def progress_lines(tmp: Path) -> int:
    logs = list((tmp / "results" / "runs").glob("*/stdout.log"))
    return logs[0].read_text().count("Epoch: [0]") if logs else 0


@pytest.mark.parametrize("daemon", ["pipe", "redirect"])
def test_a_double_forked_daemon_is_killed_and_the_run_ends_ok(tmp, daemon) -> None:
    """The daemon setsid()s away from the process group and is orphaned at once (its parent exits); with
    `pipe` it also keeps bench's stdout pipe open, which used to make bench wait for ever."""
    code, output = finish(start_bench(hostile_recipe(tmp, f"--daemon {daemon}")))
    record = the_record(tmp)
    assert record["status"] == "ok", output
    assert record["extra"]["harness"]["stop_reason"] == "window"
    assert code == 0, output
    assert survivors(the_pids(tmp)) == []


def test_sigterm_to_bench_still_works_while_a_daemon_holds_the_pipe(tmp) -> None:
    bench = start_bench(hostile_recipe(tmp, "--daemon pipe", window=(20, 50_000)))
    wait_for(lambda: progress_lines(tmp) >= 2)
    bench.send_signal(signal.SIGTERM)
    code, output = finish(bench)
    assert code == 130, output
    assert the_record(tmp)["status"] == "interrupted"
    assert survivors(the_pids(tmp)) == []


def test_sigkill_of_bench_mid_run_kills_the_tree_and_leaves_a_record(tmp) -> None:
    """bench cannot react to SIGKILL: its supervisor notices, stops the run and writes the record. The daemon
    never writes, so it would never notice a closed pipe by itself."""
    bench = start_bench(hostile_recipe(tmp, "--daemon redirect --sleeper", window=(20, 50_000)))
    wait_for(lambda: progress_lines(tmp) >= 2 and (tmp / "pids.json").exists())
    bench.kill()
    bench.communicate(timeout=10)
    assert len(the_pids(tmp)) > len(json.loads((tmp / "pids.json").read_text())["descendants"]) + 1
    assert survivors(the_pids(tmp)) == []
    wait_for(lambda: any((tmp / "results" / "runs").glob("*/record.json")), within=GONE_WITHIN_S)
    record = the_record(tmp)
    assert record["status"] == "interrupted"
    assert record["extra"]["harness"]["stop_reason"] == "bench-killed"
    assert "bench itself" in record["reason"]


def test_a_trainer_that_never_writes_times_out(tmp) -> None:
    started = time.monotonic()
    code, output = finish(start_bench(hostile_recipe(tmp, "--silent --sleeper --daemon pipe"),
                                      "--timeout", "1.5"))
    assert time.monotonic() - started < 15
    record = the_record(tmp)
    assert record["status"] == "timeout", output
    assert code == 1
    assert survivors(the_pids(tmp)) == []


def test_a_crash_leaves_no_daemon(tmp) -> None:
    code, output = finish(start_bench(hostile_recipe(tmp, "--daemon pipe --crash-at 30", window=(20, 100))))
    record = the_record(tmp)
    assert record["status"] == "crashed", output
    assert "RuntimeError: CUDA error" in record["reason"]
    assert code == 1
    assert survivors(the_pids(tmp)) == []


@pytest.mark.parametrize(("after", "status"), [(1, "ok"), (2, "noncompliant")])
def test_a_malformed_progress_line_mid_run_is_skipped(tmp, after, status) -> None:
    """`time: 1.2.3` is not a number: the line is skipped and the run goes on to its window stop and record.
    Before the window it costs nothing (ok); inside it, the window's time cannot be vouched for (noncompliant,
    naming it)."""
    code, output = finish(start_bench(hostile_recipe(tmp, f"--malformed-at {after} --sleeper")))
    record = the_record(tmp)
    assert record["status"] == status, output
    assert record["extra"]["harness"]["stop_reason"] == "window"
    if status != "ok":
        assert "1.2.3" in record["reason"] and "inside the window" in record["reason"]
    stdout_log = next((tmp / "results" / "runs").glob("*/stdout.log")).read_text()
    assert "time: 1.2.3" in stdout_log  # the log is kept as printed
    assert survivors(the_pids(tmp)) == []


def test_a_second_ctrl_c_cuts_the_grace_period_short(tmp) -> None:
    """The trainer and its daemon ignore SIGTERM; with a 60 s grace, the second Ctrl-C means SIGKILL now."""
    recipe = hostile_recipe(tmp, "--daemon pipe", window=(20, 50_000))
    bench = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", "--recipe", str(recipe),
                              "--no-progress", "--grace", "60"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: progress_lines(tmp) >= 2)
    bench.send_signal(signal.SIGINT)
    time.sleep(0.5)
    started = time.monotonic()
    bench.send_signal(signal.SIGINT)
    code, output = finish(bench)
    assert time.monotonic() - started < 15, "the second Ctrl-C did not cut the 60 s grace period short"
    assert code == 130, output
    assert the_record(tmp)["status"] == "interrupted"
    assert survivors(the_pids(tmp)) == []


def test_an_internal_error_of_bench_after_the_launch_still_writes_a_record(tmp, monkeypatch) -> None:
    """An exception in bench's own code (here: the window arithmetic) stops the run, writes a record that says
    so, and reaches the user as one BenchError line."""
    import bench.pipeline.run as runner
    from bench.errors import BenchError

    measure = runner.measure

    def broken_measure(parser, *args, **kwargs):
        if parser.records:  # the measured run (the record prepared before the launch has none)
            raise ZeroDivisionError("a bug in bench")
        return measure(parser, *args, **kwargs)

    plan = runner.resolve(*runner.load(None, hostile_recipe(tmp, "--daemon redirect --sleeper")),
                          runner.RunOptions(progress=False, grace=0.3))
    monkeypatch.setattr(runner, "measure", broken_measure)
    with pytest.raises(BenchError) as error:
        runner.execute(plan)
    assert "\n" not in str(error.value) and "ZeroDivisionError: a bug in bench" in str(error.value)
    record = the_record(tmp)
    assert record["status"] == "failed"
    assert record["extra"]["harness"]["stop_reason"] == "bench-error"
    assert "internal error of bench" in record["reason"]
    run_dir = next((tmp / "results" / "runs").glob("*"))
    assert "ZeroDivisionError" in (run_dir / "bench-error.log").read_text()
    assert not (run_dir / ".record.fallback.json").exists()
    assert survivors(the_pids(tmp)) == []


def test_the_trainer_dies_with_its_supervisor(tmp) -> None:
    """PR_SET_PDEATHSIG: even the supervisor's own death (SIGKILL, no cleanup) takes the trainer with it."""
    from bench.launch.local import LocalLauncher

    launcher = LocalLauncher([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                             cwd=tmp, env=dict(os.environ), run_dir=tmp)
    launcher.start()
    assert launcher.containment == "subreaper"
    trainer = launcher.pgid
    launcher.supervisor.kill()
    assert survivors([trainer]) == []
    assert launcher.wait(10) is not None  # the launcher notices: the run has ended
    launcher.close()
    launcher.release()


def test_without_a_subreaper_the_record_says_what_is_contained(monkeypatch) -> None:
    from bench.launch import supervisor

    monkeypatch.setattr(supervisor, "LIBC", None)
    assert supervisor.containment().startswith("process-group-only(")


def test_a_parser_exception_is_counted_and_skipped(tmp) -> None:
    """Whatever a parser raises on one line, the live run goes on (and the record counts the line)."""
    from bench.launch.local import LocalLauncher
    from bench.launch.watch import Watcher
    from bench.logs.registry import new_parser

    class Fragile:
        def __init__(self) -> None:
            self.inner = new_parser("torchvision")

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def feed(self, raw: str):
            if "boom" in raw:
                self.inner.line_no += 1
                raise ValueError("cannot read this")
            return self.inner.feed(raw)

    launcher = LocalLauncher([sys.executable, "-c", "print('boom'); print('boom'); print('fine')"], cwd=tmp,
                             env=dict(os.environ), run_dir=tmp)
    launcher.start()
    result = Watcher(launcher, Fragile(), stream="stdout", window=(20, 40), images_per_iter=2,
                     grace=0.3).run()
    launcher.release()
    assert result.stop_reason == "exited" and result.exit_code == 0
    assert result.unparsed_lines == 2
    assert result.first_unparsed == "line 1: ValueError: cannot read this"


def test_an_environment_the_system_refuses_is_a_failed_launch_not_a_traceback(tmp) -> None:
    """execve refuses a variable name with '=' (a recipe `env` key): the launch fails with a reason, like a
    missing command, and the runner records it as `failed`."""
    from bench.launch.local import LocalLauncher

    launcher = LocalLauncher([sys.executable, "-c", "pass"], cwd=tmp, env={**os.environ, "A=B": "1"},
                             run_dir=tmp)
    with pytest.raises(OSError, match="environment variable"):
        launcher.start()
    launcher.close()
    launcher.release()
