"""`bench run --launcher slurm` and `bench slurm render` against a real slurmctld (slow tier): a two-node
cluster started here on this one machine (tests/slurm_cluster.py: n1 and n2, both at NodeAddr 127.0.0.1), the
stand-in trainer and the built-in smoke preset run to their window stop through the scheduler on one node and
on two (torchrun's c10d rendezvous at the first node's NodeAddr), SIGKILL of bench mid-run on one node and on
two, a trainer killed on the second node, the node counts and partitions the cluster refuses before anything
is submitted, and every recipe's script validated with `sbatch --test-only`.

The truth for the stand-in is its schedule (iterations alternate 0.02 s and 0.03 s, 2 images each:
80 img/s)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import slurm_cluster  # noqa: E402
from writers import write_standin_recipe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    started = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def cluster(slurm):
    """The module's cluster, with no job of an earlier test left in it (a test that failed midway may leave
    one completing): each test starts on an empty queue and idle nodes."""
    deadline = time.monotonic() + 120
    while slurm.queue() and time.monotonic() < deadline:
        time.sleep(0.5)
    slurm.wait_idle()
    return slurm


def bench_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.cli", *args]


def bench(cluster, tmp: Path, *args: str, timeout: float = 600,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**cluster.env(), "BENCH_RESULTS": str(tmp / "results"), **(env or {})}
    return subprocess.run(bench_argv(*args), capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=ROOT)


def only_record(tmp: Path) -> tuple[Path, dict]:
    (path,) = sorted((tmp / "results").glob("runs/*/record.json"))
    return path.parent, json.loads(path.read_text())


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def assert_nothing_left(cluster, before: set[int], tmp: Path) -> None:
    """No job, no child of this test, no stand-in trainer, and no telemetry sampler of this test's runs (the
    machine may run other benches' samplers: those of a run under `tmp` only)."""
    assert cluster.queue() == []
    leftover = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert [p.cmdline() for p in leftover if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    trainers = [p.info["cmdline"] for p in psutil.process_iter(["cmdline", "status"])
                if p.info["status"] != psutil.STATUS_ZOMBIE and str(ROOT) in " ".join(p.info["cmdline"] or [])
                and "trainer_standin.py" in " ".join(p.info["cmdline"] or [])]
    assert trainers == []  # the job's processes are slurmstepd's, not bench's children: looked for by name
    samplers = [p.info["cmdline"] for p in psutil.process_iter(["cmdline", "status"])
                if p.info["status"] != psutil.STATUS_ZOMBIE
                and "bench.telemetry.sampler" in " ".join(p.info["cmdline"] or [])
                and str(tmp) in " ".join(p.info["cmdline"] or [])]
    assert samplers == []  # the node's telemetry sampler ended with the job's steps


def test_standin_runs_as_a_job_to_its_window_stop(cluster, tmp_path):
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 80))
    before = children()
    done = bench(cluster, tmp_path, "run", "--recipe", str(recipe), "--launcher", "slurm", "--no-progress",
                 "--grace", "3")
    assert done.returncode == 0, done.stderr
    run_dir, record = only_record(tmp_path)
    assert record["status"] == "ok", record["reason"]
    truth = 2 / 0.025
    assert record["framework_timing"]["throughput_img_s"] == pytest.approx(truth, rel=0.01)
    assert record["harness_clock"]["throughput_img_s"] == pytest.approx(truth, rel=0.03)
    assert record["extra"]["harness"]["stop_reason"] == "window"
    # stopped by scancel, not a 7330-iteration epoch
    assert record["extra"]["harness"]["stop_iteration"] < 200
    slurm = record["extra"]["slurm"]
    assert (f"slurm job {slurm['job_id']} submitted" in done.stderr
            and f"job {slurm['job_id']} running" in done.stderr)
    assert slurm["node_list"] == "n1" and slurm["partition"] == "debug"
    assert slurm["state"] in ("CANCELLED", "FAILED", "COMPLETED") and slurm["elapsed"]
    assert record["exit_code"] == 143  # the trainer ended on the SIGTERM scancel sent (128 + 15), not a kill
    assert "Terminated" in (run_dir / "stderr.log").read_text()
    assert (run_dir / "job.sbatch").read_text().startswith("#!/bin/bash\n")
    assert record["environment"]["slurm"]["version"].startswith("slurm")
    # one telemetry sampler per node, started by the batch script: its series beside the record, summarised
    # over the window (laid on bench's clock through the wall clock)
    node = "n1"  # the job's node as Slurm names it (SLURMD_NODENAME; tests/slurm_cluster.py)
    assert (run_dir / f"telemetry.{node}.csv").is_file()
    telemetry = record["telemetry"]
    assert telemetry["sampler"]["series"] == [f"telemetry.{node}.csv"]
    window = telemetry["window"]
    assert window is not None, telemetry["window_missing"]
    assert telemetry["sampler"]["rate"] >= 10 and window["host"]["node"] == node
    assert "Slurm job " + slurm["job_id"] in window["host"]["scope"]
    assert window["host"]["cpu_percent_mean"] >= 0 and window["gpus"] == []
    assert_nothing_left(cluster, before, tmp_path)


def test_builtin_smoke_preset_runs_as_a_job(cluster, tmp_path):
    before = children()
    # a short window on the 5-iteration print grid (~16 iterations, not the preset's 45)
    done = bench(cluster, tmp_path, "run", "builtin", "--preset", "smoke", "--launcher", "slurm", "--window",
                 "5:10", "--no-progress", timeout=1800)
    assert done.returncode == 0, done.stderr
    _, record = only_record(tmp_path)
    assert record["status"] == "ok", record["reason"]
    framework = record["framework_timing"]["throughput_img_s"]
    assert record["harness_clock"]["throughput_img_s"] == pytest.approx(framework, rel=0.03)
    assert record["extra"]["slurm"]["job_id"]
    assert_nothing_left(cluster, before, tmp_path)


def test_sigkill_of_bench_cancels_the_job(cluster, tmp_path):
    """bench cannot react to SIGKILL: the guard (its supervisor) runs `scancel --full JOBID` and installs the
    fallback record."""
    recipe = write_standin_recipe(tmp_path, "torchvision", window=(20, 5000))
    env = {**cluster.env(), "BENCH_RESULTS": str(tmp_path / "results")}
    proc = subprocess.Popen(bench_argv("run", "--recipe", str(recipe), "--launcher", "slurm",
                                       "--no-progress"),
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((tmp_path / "results").glob("runs/*/output")):
            time.sleep(0.2)
        while (time.monotonic() < deadline
               and "R" not in cluster.call("squeue", "-h", "-o", "%t").stdout.split()):
            time.sleep(0.2)
        (job,) = cluster.queue()
        time.sleep(1)
    finally:  # whatever failed above, bench is SIGKILLed (a bench left running would hold a node)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and cluster.queue():
        time.sleep(0.2)
    assert cluster.queue() == []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not list((tmp_path / "results").glob("runs/*/record.json")):
        time.sleep(0.2)
    _, record = only_record(tmp_path)
    assert record["status"] == "interrupted" and record["extra"]["harness"]["stop_reason"] == "bench-killed"
    state = cluster.call("scontrol", "show", "job", "-o", job).stdout
    assert "JobState=CANCELLED" in state


def recipes() -> list[str]:
    return sorted(path.stem for path in (ROOT / "recipes").glob("*.toml"))


@pytest.mark.parametrize("nodes", [1, 2])
def test_every_recipe_script_is_accepted_by_sbatch_test_only(cluster, tmp_path, nodes):
    """GPU requests are stripped (the test node has none); a recipe that runs on one node only is refused by
    `bench slurm render` in one line (exit 2)."""
    from bench.recipes.loader import find_recipe

    accepted = []
    for name in recipes():
        done = bench(cluster, tmp_path, "slurm", "render", name, "--nodes", str(nodes), "--data",
                     str(tmp_path), "--workdir", str(tmp_path / name), timeout=60)
        recipe = find_recipe(name)
        if nodes > 1 and recipe.refusal(recipe.gpus, nodes) is not None:
            assert done.returncode == 2 and "runs on 1 node(s) only" in done.stderr, (name, done.stderr)
            continue
        assert done.returncode == 0, (name, done.stderr)
        text = "".join(line for line in done.stdout.splitlines(keepends=True)
                       if not line.startswith(("#SBATCH --gres", "#SBATCH --gpus-per-node")))
        assert len(text) < len(done.stdout)  # every recipe asks for GPUs
        (tmp_path / f"{name}.sbatch").write_text(text)
        test = cluster.call("sbatch", "--test-only", str(tmp_path / f"{name}.sbatch"), check=False)
        assert test.returncode == 0 and f"using {nodes}" in test.stderr or "to start at" in test.stderr, \
            (name, test.stderr)
        accepted.append(name)
    assert len(accepted) >= (10 if nodes == 1 else 6)


# -- two nodes ---------------------------------------------------------------------------------------------
def standin_under_torchrun(tmp: Path, window: tuple[int, int]) -> Path:
    """The stand-in launched by torchrun, one process per node, only rank 0 printing: bench renders its
    two-node form like any torchrun recipe's (c10d rendezvous at the first node's address)."""
    path = write_standin_recipe(tmp, "torchvision", window=window, args="--rank0-only")
    text = path.read_text().replace('command = "{python} ', 'command = "{python} -m torch.distributed.run '
                                    '--standalone --nproc_per_node={procs} ', 1)
    path.write_text(text)
    return path


def node_processes(marker: str) -> dict[str, list[psutil.Process]]:
    """Live processes whose command line holds `marker`, by the Slurm node whose task started them."""
    found: dict[str, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE or marker not in " ".join(proc.info["cmdline"] or []):
            continue
        try:
            node = proc.environ().get("SLURMD_NODENAME")
        except psutil.Error:
            continue
        if node:
            found.setdefault(node, []).append(proc)
    return found


def trainers(marker: str) -> dict[str, list[psutil.Process]]:
    """The training processes (torchrun's workers, not the agents), by node."""
    found = {node: [p for p in procs if "torch.distributed.run" not in " ".join(p.cmdline())]
             for node, procs in node_processes(marker).items()}
    return {node: procs for node, procs in found.items() if procs}


def on_both_nodes(marker: str) -> dict[str, list[psutil.Process]] | None:
    found = trainers(marker)
    return found if sorted(found) == ["n1", "n2"] else None


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout} s")


def test_builtin_smoke_runs_on_two_nodes(cluster, tmp_path):
    """The issue's acceptance run: 1 process per node, 2 images each, world size 2 and 4 images per iteration
    read from the log; both nodes named in the record. A short window (5:10, on the 5-iteration print grid)
    keeps it to ~16 iterations."""
    before = children()
    done = bench(cluster, tmp_path, "run", "builtin", "--launcher", "slurm", "--nodes", "2", "--preset",
                 "smoke", "--window", "5:10", "--no-progress", timeout=1800,  # (a first run builds the env)
                 env={"OMP_NUM_THREADS": "1"})  # both "nodes" share this machine's cores: one each
    assert done.returncode == 0, done.stderr
    run_dir, record = only_record(tmp_path)
    assert record["status"] == "ok", record["reason"]
    assert record["nodes"] == 2 and record["images_per_iter"] == 4
    assert record["images_per_iter_source"].startswith("log line ")  # the Namespace the trainer printed
    assert record["extra"]["scale"]["world_size_in_log"] == 2 and record["extra"]["scale"]["world_size"] == 2
    slurm = record["extra"]["slurm"]
    assert slurm["node_names"] == ["n1", "n2"] and slurm["node_addresses"] == {"n1": "127.0.0.1",
                                                                             "n2": "127.0.0.1"}
    script = (run_dir / "job.sbatch").read_text()
    assert "--rdzv-endpoint=@BENCH_MASTER_ADDR@:" in script and "--local-addr=@BENCH_NODE_ADDR@" in script
    assert "first node 127.0.0.1" in (run_dir / "stderr.log").read_text()  # n1's NodeAddr, not its name
    assert_nothing_left(cluster, before, tmp_path)
    assert node_processes(str(run_dir)) == {}


def test_sigkill_of_bench_cancels_a_two_node_job(cluster, tmp_path):
    recipe = standin_under_torchrun(tmp_path, (20, 100000))
    env = {**cluster.env(), "BENCH_RESULTS": str(tmp_path / "results")}
    proc = subprocess.Popen(bench_argv("run", "--recipe", str(recipe), "--launcher", "slurm", "--nodes", "2",
                                       "--no-progress"),
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        running = wait_for(lambda: on_both_nodes("trainer_standin.py"), 90, "stand-in on both nodes")
        assert sorted(running) == ["n1", "n2"]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    wait_for(lambda: not cluster.queue(), 60, "empty queue")
    wait_for(lambda: not node_processes("trainer_standin.py"), 30, "end of the nodes' processes")
    _, record = wait_for(lambda: list((tmp_path / "results").glob("runs/*/record.json"))
                         and only_record(tmp_path), 20, "record")
    assert record["status"] == "interrupted" and record["extra"]["harness"]["stop_reason"] == "bench-killed"


def test_a_trainer_killed_on_one_node_is_named_in_the_record(cluster, tmp_path):
    """A node's process dies mid-run (SIGKILL of the stand-in on n2): srun ends the job (--kill-on-bad-exit)
    and the record says which node and what Slurm said of its task."""
    recipe = standin_under_torchrun(tmp_path, (20, 100000))
    before = children()
    env = {**cluster.env(), "BENCH_RESULTS": str(tmp_path / "results")}
    proc = subprocess.Popen(bench_argv("run", "--recipe", str(recipe), "--launcher", "slurm", "--nodes", "2",
                                       "--no-progress", "--grace", "3"),
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        running = wait_for(lambda: on_both_nodes("trainer_standin.py"), 90, "stand-in on both nodes")
        for victim in running["n2"]:
            victim.kill()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    _, record = only_record(tmp_path)
    assert record["status"] in ("crashed", "failed"), record
    assert "node n2: task 1" in record["reason"], record["reason"]
    assert any(t.startswith("node n2: task 1") for t in record["extra"]["slurm"]["node_trouble"])
    assert_nothing_left(cluster, before, tmp_path)


@pytest.mark.parametrize("args,why", [
    (["--nodes", "0"], "--nodes: 0 is not between 1 and"),
    (["--nodes", "3"], "--nodes 3: partition debug has 2 node(s)"),
    (["--partition", "nosuch"], "--partition nosuch: no such partition"),
    (["--procs", "2", "--preset", "full"], "--procs 2 counts CPU processes"),
])
def test_what_the_cluster_cannot_give_is_one_line_before_submission(cluster, tmp_path, args, why):
    preset = [] if "--preset" in args else ["--preset", "smoke"]
    done = bench(cluster, tmp_path, "run", "builtin", "--launcher", "slurm", *preset, *args, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and why in done.stderr, done.stderr
    assert cluster.queue() == [] and not (tmp_path / "results").exists()


def test_a_node_count_the_recipe_cannot_honour_is_refused(cluster, tmp_path):
    done = bench(cluster, tmp_path, "run", "torchvision", "--launcher", "slurm", "--nodes", "2", "--preset",
                 "smoke", timeout=60)
    assert done.returncode == 2 and "--nodes 2: it runs on 1 node(s) only" in done.stderr, done.stderr
    assert cluster.queue() == []
