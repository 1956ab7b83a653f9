"""The Slurm launcher: submit the run's batch script, follow the job through the queue, stream its output
files into the same watcher and harness clock as a local run, stop it with scancel, and say what Slurm says of
it.

The job writes its stdout and stderr (sbatch --output/--error) straight into the run directory, and the
recipe's log file into the run's output directory: the launcher tails those files as they grow (the nodes and
bench share a file system, as on every Slurm cluster) and stamps each line on `time.monotonic()` when it sees
it. Stopping: SIGTERM through scancel, the grace, then `scancel --full JOBID`. The SIGTERM goes where the
trainer is: to the job's steps (`scancel --signal=TERM JOBID`) when srun launched it, because srun itself
turns a SIGTERM into an immediate kill of its step (it prints "forcing job termination"), which `--full` would
send it; and to the batch script and its children (`scancel --signal=TERM --full JOBID`) when the trainer runs
in the batch step (an mpirun launch).

If bench is SIGKILLed, nothing of bench can cancel the job, so the job is submitted held, a guard (bench's own
supervisor, with `scancel --full JOBID` as its cleanup command) is started, and only then is the job released:
there is no moment at which a job could run with nobody to cancel it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.external import call
from bench.launch.base import Launcher
from bench.launch.local import LocalLauncher
from bench.recipes.render import render_env
from bench.slurm.render import ScriptPaths, SlurmRun, render_script, trainer_in_batch_step
from bench.telemetry.control import node_sampler_argv
from bench.vocabulary import HARNESS_ENV, RunStatus

SCRIPT_NAME = "job.sbatch"
POLL_S = 0.5
CALL_TIMEOUT_S = 60
CANCEL_TRIES = 3  # scancel calls at the end of a run whose end Slurm has not confirmed
GUARD_DIR = "slurm-guard"
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "OUT_OF_MEMORY",
         "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
# How a job that ended by itself (not stopped by bench) is recorded, when the training's own end says less.
STATE_STATUS = {"TIMEOUT": (RunStatus.TIMEOUT, "the job reached its Slurm time limit (--time)"),
                "PREEMPTED": (RunStatus.INTERRUPTED, "Slurm preempted the job"),
                "CANCELLED": (RunStatus.INTERRUPTED, "the job was cancelled outside bench (scancel)"),
                "DEADLINE": (RunStatus.TIMEOUT, "the job reached its Slurm deadline"),
                "NODE_FAIL": (RunStatus.FAILED, "a node of the job failed (NODE_FAIL)"),
                "BOOT_FAIL": (RunStatus.FAILED, "a node of the job failed to boot (BOOT_FAIL)"),
                "OUT_OF_MEMORY": (RunStatus.FAILED, "the job ran out of memory (OUT_OF_MEMORY)")}


def slurm_call(*argv: str, check: bool = True,
               env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """A Slurm client command; a missing client or a refusal is one clear line."""
    return call(argv, timeout=CALL_TIMEOUT_S, check=check, env=env,
                missing="--launcher slurm needs Slurm's client commands")


def scontrol_fields(line: str) -> dict[str, str]:
    """`Key=Value Key=Value ...` of one `scontrol -o show ...` line."""
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def partition_problem(run: SlurmRun, env: Mapping[str, str] | None = None) -> str | None:
    """Why the cluster cannot give the job its nodes, asked of the controller before anything is submitted: a
    partition that does not exist, no default partition, more nodes than the partition holds or lets one
    job have (MaxNodes). None when it can."""
    name = run.partition
    done = slurm_call("scontrol", "-o", "show", "partition", *([name] if name else []), check=False, env=env)
    rows = [scontrol_fields(line) for line in done.stdout.splitlines() if "PartitionName=" in line]
    if name is None:
        rows = [row for row in rows if row.get("Default") == "YES"]
    if done.returncode != 0 or not rows:
        said = " ".join((done.stdout or done.stderr).split())[:200]
        return (f"--partition {name}: no such partition on this cluster ({said})" if name
                else "this cluster has no default partition: pass --partition")
    row = rows[0]
    where = f"partition {row.get('PartitionName', name)}"
    total, most = row.get("TotalNodes", ""), row.get("MaxNodes", "UNLIMITED")
    if total.isdigit() and run.nodes > int(total):
        return f"--nodes {run.nodes}: {where} has {total} node(s) ({row.get('Nodes', '')})"
    if most.isdigit() and run.nodes > int(most):
        return f"--nodes {run.nodes}: {where} lets a job have at most {most} node(s) (MaxNodes)"
    return None


@dataclass
class JobFacts:
    """What Slurm says of the job (squeue while it is queued or running; sacct, else scontrol, once it
    ended)."""

    job_id: str
    state: str = "SUBMITTED"
    reason: str = ""
    node_list: str = ""
    partition: str = ""
    elapsed: str | None = None
    exit_code: str | None = None  # "code:signal", as Slurm prints it
    source: str | None = None  # "sacct" or "scontrol"
    submitted_at: float = field(default_factory=time.monotonic)
    running_at: float | None = None

    def code(self) -> int | None:
        """The job's exit code as a process's (negative: the signal that ended it)."""
        if not self.exit_code or ":" not in self.exit_code:
            return None
        code, sig = (int(part) for part in self.exit_code.split(":", 1))
        return -sig if sig else code


def final_facts(facts: JobFacts, env: Mapping[str, str] | None) -> JobFacts:
    """The ended job from sacct (accounting), or from scontrol when this cluster keeps no accounting."""
    done = slurm_call("sacct", "-n", "-P", "-X", "-j", facts.job_id,
                      "-o", "State,ExitCode,Elapsed,NodeList,Partition", check=False, env=env)
    rows = [line.split("|") for line in done.stdout.splitlines() if line.count("|") == 4]
    if done.returncode == 0 and rows:
        state, facts.exit_code, facts.elapsed, facts.node_list, facts.partition = rows[0]
        facts.state, facts.source = state.split()[0], "sacct"  # "CANCELLED by 0" -> CANCELLED
        facts.reason = state if state != facts.state else facts.reason
        return facts
    done = slurm_call("scontrol", "show", "job", "-o", facts.job_id, check=False, env=env)
    fields = scontrol_fields(done.stdout)
    if fields:
        facts.state, facts.exit_code = fields.get("JobState", facts.state), fields.get("ExitCode")
        facts.elapsed, facts.source = fields.get("RunTime"), "scontrol"
        facts.reason = fields.get("Reason", facts.reason)
        facts.node_list = fields.get("NodeList", facts.node_list)
        facts.partition = fields.get("Partition", facts.partition)
    return facts


class _Guard(LocalLauncher):
    """bench's supervisor watching over nothing but the job: if bench dies, it runs `scancel --full JOBID` and
    installs the fallback record."""

    def __init__(self, job_id: str, run_dir: Path, env: Mapping[str, str], **supervision) -> None:
        guard_dir = run_dir / GUARD_DIR
        guard_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(["sleep", "infinity"], cwd=guard_dir, env=env, run_dir=guard_dir, **supervision)
        self.job_id = job_id

    def cleanup_argv(self) -> list[str]:
        return ["scancel", "--full", self.job_id]


class SlurmLauncher(Launcher):
    def __init__(self, script: str, *, run_dir: Path, env: Mapping[str, str], log_file: Path | None = None,
                 grace: float = 10.0, record: Path | None = None, fallback_record: Path | None = None,
                 poll_s: float = POLL_S, say: Callable[[str], None] | None = None, gpus_per_node: int = 0,
                 nodes: int = 1, term_batch_step: bool = False) -> None:
        super().__init__(run_dir)
        self.script, self.env, self.log_file, self.grace = script, dict(env), log_file, grace
        self.supervision = {"grace": grace, "record": record, "fallback_record": fallback_record}
        self.poll_s, self.say = poll_s, say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.gpus_per_node, self.nodes, self.term_batch_step = gpus_per_node, nodes, term_batch_step
        self.facts: JobFacts | None = None
        self.guard: _Guard | None = None
        self.containment: str | None = None
        self._ended = threading.Event()

    # -- starting ---------------------------------------------------------------------------------
    def start(self) -> None:
        script = self.run_dir / SCRIPT_NAME
        script.write_text(self.script, encoding="utf-8")
        streams = ["stdout", "stderr"] + (["file"] if self.log_file is not None else [])
        for stream in streams:
            self._open_stream(stream)
        try:
            out = slurm_call("sbatch", "--parsable", "--hold", str(script), env=self.env).stdout.strip()
            self.facts = JobFacts(job_id=out.split(";")[0])
            self.guard = _Guard(self.facts.job_id, self.run_dir, self.env, **self.supervision)
            self.guard.start()
            self.containment = f"slurm job {self.facts.job_id} (guard: {self.guard.containment})"
            slurm_call("scontrol", "release", self.facts.job_id, env=self.env)
        except BaseException as exc:
            if self.facts is not None:
                slurm_call("scancel", "--full", self.facts.job_id, check=False, env=self.env)
            for stream in streams:
                self._close_stream(stream)
            raise OSError(str(exc)) from exc
        self.say(f"bench: slurm job {self.facts.job_id} submitted ({script})")
        self.started_at = time.monotonic()
        paths = [(self.run_dir / "stdout.log", "stdout"), (self.run_dir / "stderr.log", "stderr")]
        if self.log_file is not None:
            paths.append((self.log_file, "file"))
        for path, stream in paths:
            threading.Thread(target=self._tail_file, args=(path, stream), daemon=True,
                             name=f"bench-{stream}").start()
        threading.Thread(target=self._follow, daemon=True, name="bench-slurm-follow").start()

    def _follow(self) -> None:
        """Poll the queue: say when the job waits (and why) and when it runs; once it has left, ask for its
        end."""
        facts, shown, silent = self.facts, "", False
        try:
            while True:
                row = self._queue_row()
                if row is None:  # no answer is not an end: a busy controller must not orphan the job
                    if not silent:
                        self.say(f"bench: slurm job {facts.job_id}: squeue did not answer; asking again")
                    silent = True
                    time.sleep(self.poll_s)
                    continue
                silent = False
                if not row or row[0] in ENDED:
                    break
                facts.state, facts.reason, facts.node_list, facts.partition = (row + ["", "", ""])[:4]
                if facts.state == "RUNNING" and facts.running_at is None:
                    facts.running_at = time.monotonic()
                waiting = facts.state == "PENDING" and facts.reason not in ("", "None")
                news = f"{facts.state} ({facts.reason})" if waiting else facts.state
                if news != shown:
                    where = f" on {facts.node_list}" if facts.node_list and facts.state != "PENDING" else ""
                    self.say(f"bench: slurm job {facts.job_id} {news.lower()}{where}")
                    shown = news
                time.sleep(self.poll_s)
            try:
                final_facts(facts, self.env)
            except BenchError:  # no answer: the record keeps what squeue said last, release() cancels it
                pass
        finally:
            self._ended.set()

    def _queue_row(self) -> list[str] | None:
        """The job's squeue row (state, reason, nodes, partition); [] once Slurm says it has left the queue
        (no row, or `Invalid job id` for a job the controller no longer remembers); None when the controller
        did not answer."""
        try:
            done = slurm_call("squeue", "-h", "-j", self.facts.job_id, "-o", "%T|%r|%N|%P", check=False,
                              env=self.env)
        except BenchError:  # no answer in time
            return None
        if done.returncode == 0:
            text = done.stdout.strip()
            return text.split("|") if text else []
        return [] if "Invalid job id" in done.stderr else None

    # -- the run's state ----------------------------------------------------------------------------
    def poll(self) -> int | None:
        return self.facts.code() if self._ended.is_set() and self.facts else None

    def _alive(self) -> bool:
        return self.facts is not None and not self._ended.is_set()

    def _signal_all(self, sig: int) -> None:
        """SIGTERM: to the batch shell and every step (a pending job is simply cancelled); SIGKILL: cancel."""
        if self.facts is None:
            return
        if sig == signal.SIGKILL or self.facts.state == "PENDING":
            slurm_call("scancel", "--full", self.facts.job_id, check=False, env=self.env)
        else:
            name = signal.Signals(sig).name.removeprefix("SIG")
            full = ["--full"] if self.term_batch_step else []
            slurm_call("scancel", f"--signal={name}", *full, self.facts.job_id, check=False, env=self.env)

    def _reap(self, timeout: float) -> int | None:
        self._ended.wait(timeout)
        return self.poll()

    def members(self) -> list:
        return []  # the job's processes are on the nodes, not here

    def release(self) -> None:
        """Nothing of the job outlives the run: a job whose end Slurm has not confirmed is cancelled."""
        for _ in range(CANCEL_TRIES if self.facts is not None and self.facts.state not in ENDED else 0):
            try:
                slurm_call("scancel", "--full", self.facts.job_id, check=False, env=self.env)
                break
            except BenchError:  # no answer in time: a busy controller; ask again
                continue
        if self.guard is not None:
            self.guard.release()

    # -- the record -----------------------------------------------------------------------------------
    def finish_record(self, record):
        """The record with what Slurm says: the job, its nodes and state in extra["slurm"]; a job that Slurm
        ended (time limit, preemption, a node) gets the matching status unless the window was measured
        first."""
        facts = self.facts
        if facts is None:
            return record
        slurm = {"job_id": facts.job_id, "state": facts.state, "exit_code": facts.exit_code,
                 "elapsed": facts.elapsed, "state_source": facts.source, "node_list": facts.node_list,
                 "partition": facts.partition, "nodes": self.nodes, "gpus_per_node": self.gpus_per_node,
                 "queued_s": round((facts.running_at or facts.submitted_at) - facts.submitted_at, 3),
                 "script": SCRIPT_NAME, "reason": facts.reason if facts.reason not in ("", "None") else None,
                 **job_nodes(facts.node_list, self.run_dir / "stderr.log", self.env)}
        environment = dict(record.environment)
        environment["slurm"] = {"version": _slurm_version(self.env), "node_list": facts.node_list,
                                "node_gpus": node_gpus(self.run_dir / "output")}
        update = {"extra": {**record.extra, "slurm": slurm}, "environment": environment,
                  "gpus": self.gpus_per_node * self.nodes, "nodes": self.nodes}
        models = {gpu["name"] for node in environment["slurm"]["node_gpus"].values() for gpu in node}
        if len(models) == 1:
            update["gpu_model"] = models.pop()
        ended = STATE_STATUS.get(facts.state)
        if ended is not None and not self.stopped_by_harness and record.status is not RunStatus.OK:
            update.update(status=ended[0],
                          reason=f"{ended[1]}; {record.reason}" if record.reason else ended[1])
        if slurm["node_trouble"] and not self.stopped_by_harness and record.status is not RunStatus.OK:
            said = "; ".join(slurm["node_trouble"])
            update["reason"] = f"{said}; {update.get('reason', record.reason)}".rstrip("; ")
        return record.model_copy(update=update)


SRUN_ERROR = re.compile(r"^srun: error: (?:Node failure on (\S+)|(\S+): (task .*))$")
BAD_NODE_STATE = ("DOWN", "FAIL", "DRAIN", "NOT_RESPONDING", "REBOOT")
STDERR_TAIL_BYTES = 256 * 1024


def job_nodes(node_list: str, stderr: Path, env: Mapping[str, str] | None) -> dict:
    """The job's nodes by name with the address Slurm knows for each, and what went wrong on which node: the
    srun errors in the job's stderr (`srun: error: n2: task 1: Killed`, `Node failure on n2`) and every
    node Slurm holds down, failed or draining, with Slurm's reason."""
    names, addresses, trouble = [], {}, []
    if node_list and node_list not in ("None", "(null)"):
        done = slurm_call("scontrol", "-o", "show", "node", node_list, check=False, env=env)
        for line in done.stdout.splitlines():
            node = scontrol_fields(line)
            if "NodeName" not in node:
                continue
            names.append(node["NodeName"])
            addresses[node["NodeName"]] = node.get("NodeAddr", node["NodeName"])
            state = node.get("State", "")
            if any(bad in state for bad in BAD_NODE_STATE):
                why = line.split(" Reason=", 1)[1].strip() if " Reason=" in line else "no reason given"
                trouble.append(f"node {node['NodeName']} is {state} ({why})")
    for text in _tail_lines(stderr):
        if match := SRUN_ERROR.match(text.strip()):
            trouble.append(f"node {match[1]}: node failure" if match[1] else f"node {match[2]}: {match[3]}")
    return {"node_names": names, "node_addresses": addresses, "node_trouble": list(dict.fromkeys(trouble))}


def _tail_lines(path: Path) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - STDERR_TAIL_BYTES))
            return handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _slurm_version(env: Mapping[str, str]) -> str | None:
    try:
        return slurm_call("sbatch", "--version", check=False, env=env).stdout.strip() or None
    except BenchError:
        return None


def node_gpus(output: Path) -> dict[str, list[dict[str, str]]]:
    """node -> its GPUs (name, driver, UUID) from the `nvidia-smi -q -x` files the job wrote on each node."""
    import xml.etree.ElementTree as ET

    found: dict[str, list[dict[str, str]]] = {}
    for path in sorted(output.glob("nvidia-smi.*.xml")):
        node = path.name[len("nvidia-smi."):-len(".xml")]
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError):
            found[node] = []
            continue
        driver = root.findtext("driver_version", "")
        found[node] = [{"name": gpu.findtext("product_name", ""), "driver": driver,
                        "uuid": gpu.findtext("uuid", "")}
                       for gpu in root.findall("gpu")]
    return found


def slurm_launcher(plan, run_id: str, run_dir: Path, command: list[str], cwd: Path, env: Mapping[str, str],
                   prepared, data: Path | None, log_file: Path | None, **supervision) -> SlurmLauncher:
    """The run's batch script (the recipe's variables and the harness's exported in it; the rest of bench's
    environment, e.g. an activated virtual environment, reaches the job through sbatch's default
    --export=ALL)."""

    recipe, run = plan.recipe, plan.slurm
    paths = ScriptPaths(workdir=cwd, output=run_dir / "output", stdout=run_dir / "stdout.log",
                        stderr=run_dir / "stderr.log",
                        mounts=tuple(p for p in (prepared.path, run_dir) if p is not None),
                        read_only=(data,) if data else ())
    script = render_script(recipe=recipe.name, variant=recipe.variant, argv=command,
                           env={k: env[k] for k in (*render_env(recipe), *HARNESS_ENV)}, run=run,
                           gpus=plan.gpus, paths=paths, job_name=f"bench-{run_id}", title=recipe.title,
                           sampler=node_sampler_argv(run_dir, plan.gpus) if plan.options.telemetry else None)
    return SlurmLauncher(script, run_dir=run_dir, env=env, log_file=log_file, grace=plan.options.grace,
                         gpus_per_node=plan.gpus, nodes=run.nodes,
                         term_batch_step=trainer_in_batch_step(command), **supervision)
