"""A real two-node Slurm cluster on this one machine, for the slow tier (not a test module: the tests import
it).

Debian's slurm-wlm (installed with apt if missing), munge with its own key and socket, slurmctld, and two
slurmd daemons (`slurmd -N n1`, `slurmd -N n2`) with `proctrack/linuxproc` (cgroups do not work in this
sandbox; see ../shared/reference/engines.md). Both nodes are this machine: `NodeHostname` is its name,
`NodeAddr` is 127.0.0.1 (a name like n1 does not resolve: what runs across the nodes must use the address
Slurm knows), and each node has its own port, spool directory, PID and log file (slurm.conf's %n). Every
file lives in one temporary directory: the daemons get it with `-f`, the clients through SLURM_CONF, munge
through `--key-file/--socket` and slurm.conf's AuthInfo. Nothing is written under /etc. The daemons are
stopped by the PIDs they wrote, and only those.

A one-node job goes to n1 (it weighs less); `srun -N2` places one task on each node; the tests run one job at
a time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NODES = ("n1", "n2")
PARTITION = "debug"


@dataclass
class SlurmCluster:
    root: Path
    pids: dict[str, Path]

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def call(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), env=self.env(), capture_output=True, text=True, check=check,
                              timeout=timeout)

    def queue(self) -> list[str]:
        """Job ids still known to squeue (pending, running or completing)."""
        return self.call("squeue", "-h", "-o", "%i").stdout.split()

    def wait_idle(self, timeout: float = 60) -> None:
        """Every node idle (the `sinfo -N` state of each)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.node_states()
            if sorted(states) == sorted(NODES) and all(s in ("idle", "mix") for s in states.values()):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Slurm nodes did not become idle in {timeout} s (states {states!r}); see "
                           f"{self.root}/*.log")

    def node_states(self) -> dict[str, str]:
        rows = self.call("sinfo", "-h", "-N", "-o", "%N %t", check=False).stdout.split("\n")
        return dict(row.split() for row in rows if len(row.split()) == 2)

    def stop(self) -> None:
        for name in (*(f"slurmd-{node}" for node in NODES), "slurmctld", "munged"):
            pid_file = self.pids[name]
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)


def ensure_installed() -> None:
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    subprocess.run(["apt-get", "install", "-y", "-qq", "slurm-wlm"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=600)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def config(root: Path, host: str, cpus: int, munge_socket: Path) -> str:
    nodes = [f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={free_port()} CPUs={cpus} "
             f"RealMemory=2000 Weight={weight} State=UNKNOWN" for weight, node in enumerate(NODES, 1)]
    return "\n".join([
        "ClusterName=benchtest", f"SlurmctldHost={host}", "AuthType=auth/munge",
        f"AuthInfo=socket={munge_socket}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SelectType=select/cons_tres",
        f"SlurmctldPidFile={root}/slurmctld.pid", f"SlurmdPidFile={root}/slurmd.%n.pid",
        f"SlurmdSpoolDir={root}/slurmd.%n", f"StateSaveLocation={root}/slurmctld", "SlurmUser=root",
        f"SlurmctldLogFile={root}/slurmctld.log", f"SlurmdLogFile={root}/slurmd.%n.log",
        # free ports, not the defaults: a system Slurm (or another test run) may be listening beside this one
        f"SlurmctldPort={free_port()}",
        "ReturnToService=2", "MinJobAge=600", "KillWait=5", "InactiveLimit=0", "SlurmdTimeout=300",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        *nodes, f"PartitionName={PARTITION} Nodes={','.join(NODES)} Default=YES MaxTime=INFINITE State=UP",
        ""])


def start(root: Path) -> SlurmCluster:
    """Install if needed, write the configuration under `root`, start munged, slurmctld and slurmd."""
    ensure_installed()
    root.mkdir(parents=True, exist_ok=True)
    for sub in (*(f"slurmd.{node}" for node in NODES), "slurmctld", "munge"):
        (root / sub).mkdir(exist_ok=True)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    munge_socket = root / "munge" / "munge.socket"
    host = socket.gethostname()
    (root / "slurm.conf").write_text(config(root, host, os.cpu_count() or 1, munge_socket))
    cluster = SlurmCluster(root, {"munged": root / "munge" / "munged.pid",
                                  "slurmctld": root / "slurmctld.pid",
                                  **{f"slurmd-{node}": root / f"slurmd.{node}.pid" for node in NODES}})
    # -f: munged refuses keys and directories it does not like for a system install (here: a temp dir of root)
    subprocess.run(["munged", "-f", f"--key-file={key}", f"--socket={munge_socket}",
                    f"--pid-file={cluster.pids['munged']}", f"--log-file={root}/munge/munged.log",
                    f"--seed-file={root}/munge/munged.seed"], check=True, timeout=30)
    try:
        subprocess.run(["slurmctld", "-f", str(cluster.conf)], check=True, env=cluster.env(), timeout=60)
        for node in NODES:
            subprocess.run(["slurmd", "-f", str(cluster.conf), "-N", node], check=True, env=cluster.env(),
                           timeout=60)
        cluster.wait_idle()
    except BaseException:
        cluster.stop()
        raise
    return cluster
