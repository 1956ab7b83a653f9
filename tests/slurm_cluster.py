"""A real single-node Slurm cluster for the slow tier (not a test module: the tests import it).

Debian's slurm-wlm (installed with apt if missing), munge with its own key and socket, and slurmctld + slurmd
with `proctrack/linuxproc` (cgroups do not work in this sandbox; see ../shared/reference/engines.md). Every
file lives in one temporary directory: the daemons get it with `-f`, the clients through SLURM_CONF, munge
through `--key-file/--socket` and slurm.conf's AuthInfo. Nothing is written under /etc. The daemons are
stopped by the PIDs they wrote, and only those.

The partition holds this node and a second one that never exists (State=IDLE, Weight=1000, a long
SlurmdTimeout): `sbatch --test-only --nodes=2` can then validate a two-node script against the real controller
(it answers when such a job would start instead of refusing a node count the partition cannot hold; a DOWN or
FUTURE node does not count for --test-only). A real one-node job goes to the real node, which weighs less; the
tests run one job at a time.
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

PHANTOM_NODE = "phantom2"  # the second node of the partition: declared, never up


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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.call("sinfo", "-h", "-n", socket.gethostname(), "-o", "%t",
                              check=False).stdout.strip()
            if state in ("idle", "mix"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Slurm node did not become idle in {timeout} s (state {state!r}); see "
                           f"{self.root}/*.log")

    def stop(self) -> None:
        for name in ("slurmd", "slurmctld", "munged"):
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
    return "\n".join([
        "ClusterName=benchtest", f"SlurmctldHost={host}", "AuthType=auth/munge",
        f"AuthInfo=socket={munge_socket}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SelectType=select/cons_tres",
        f"SlurmctldPidFile={root}/slurmctld.pid", f"SlurmdPidFile={root}/slurmd.pid",
        f"SlurmdSpoolDir={root}/slurmd", f"StateSaveLocation={root}/slurmctld", "SlurmUser=root",
        f"SlurmctldLogFile={root}/slurmctld.log", f"SlurmdLogFile={root}/slurmd.log",
        # free ports, not the defaults: a system Slurm (or another test run) may be listening beside this one
        f"SlurmctldPort={free_port()}", f"SlurmdPort={free_port()}",
        "ReturnToService=2", "MinJobAge=600", "KillWait=5", "InactiveLimit=0", "SlurmdTimeout=3600",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        f"NodeName={host} CPUs={cpus} RealMemory=2000 Weight=1 State=UNKNOWN",
        f"NodeName={PHANTOM_NODE} NodeAddr=127.0.0.254 CPUs={cpus} RealMemory=2000 Weight=1000 "
        "State=IDLE",
        f"PartitionName=debug Nodes={host},{PHANTOM_NODE} Default=YES MaxTime=INFINITE State=UP", ""])


def start(root: Path) -> SlurmCluster:
    """Install if needed, write the configuration under `root`, start munged, slurmctld and slurmd."""
    ensure_installed()
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("slurmd", "slurmctld", "munge"):
        (root / sub).mkdir(exist_ok=True)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    munge_socket = root / "munge" / "munge.socket"
    host = socket.gethostname()
    (root / "slurm.conf").write_text(config(root, host, os.cpu_count() or 1, munge_socket))
    cluster = SlurmCluster(root, {"munged": root / "munge" / "munged.pid",
                                  "slurmctld": root / "slurmctld.pid", "slurmd": root / "slurmd.pid"})
    # -f: munged refuses keys and directories it does not like for a system install (here: a temp dir of root)
    subprocess.run(["munged", "-f", f"--key-file={key}", f"--socket={munge_socket}",
                    f"--pid-file={cluster.pids['munged']}", f"--log-file={root}/munge/munged.log",
                    f"--seed-file={root}/munge/munged.seed"], check=True, timeout=30)
    try:
        subprocess.run(["slurmctld", "-f", str(cluster.conf)], check=True, env=cluster.env(), timeout=60)
        subprocess.run(["slurmd", "-f", str(cluster.conf)], check=True, env=cluster.env(), timeout=60)
        cluster.wait_idle()
    except BaseException:
        cluster.stop()
        raise
    return cluster
