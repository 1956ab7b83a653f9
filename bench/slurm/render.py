"""The sbatch script of one run: `#SBATCH` resources, one task per node, the recipe's command launched through
its framework's own multi-node mechanism (bench.k8s.distributed knows each one), and the GPUs of every node
logged.

Every value comes from the recipe or the user, so every value is quoted: `#SBATCH` values are checked against
a plain character set (sbatch reads those lines itself, not a shell), everything else goes through
bench.security's shell helpers. Symbolic multi-node values (the first node's address, the node's rank, the job
id) travel as sentinels in the argv and are substituted by bash's `${@//...}` on each node, so no word is ever
re-parsed by a shell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.k8s import distributed
from bench.security import shell_assignment, shell_comment, shell_join, shell_quote
from bench.telemetry.control import PACKAGE_ROOT

DEFAULT_PORT = 29500
SIGNAL_LEAD_S = 120  # the trainer gets SIGTERM this long before the time limit (checkpoint, flush the log)
GPU_REQUESTS = ("gres", "gpus-per-node")
# sentinels in the argv, substituted per node (they cannot appear in a recipe: checked)
MASTER_ADDR, NODE_RANK, JOB_ID = "@BENCH_MASTER_ADDR@", "@BENCH_NODE_RANK@", "@BENCH_JOB_ID@"
NODE_ADDR = "@BENCH_NODE_ADDR@"
SENTINELS = (MASTER_ADDR, NODE_RANK, JOB_ID, NODE_ADDR)
_SBATCH_VALUE = re.compile(r"[A-Za-z0-9_.,:@/=+%-]+")
_TIME = re.compile(r"(\d+-)?\d+(:\d+){0,2}|\d+-\d+(:\d+)?|UNLIMITED|INFINITE", re.IGNORECASE)


def node_address(node: str) -> str:
    """Shell text for the address Slurm knows for a node (its NodeAddr, which need not be a name that
    resolves), or the node's name where scontrol says none."""
    return (f'$(scontrol -o show node "{node}" 2>/dev/null | sed -n \'s/.* NodeAddr=\\([^ ]*\\).*/\\1/p\')')


# On each node: log the GPUs the node has, fill in the node's rank and address, then become the trainer
# (SIGTERM reaches it).
_NODE_SCRIPT = ('if command -v nvidia-smi >/dev/null 2>&1; then '
                'nvidia-smi -q -x >"$1/nvidia-smi.$SLURMD_NODENAME.xml"'
                ' 2>&1 || true; fi; shift; export NODE_RANK="$SLURM_NODEID"; '
                f'NODE_ADDR="{node_address("$SLURMD_NODENAME")}"; '
                'NODE_ADDR="${NODE_ADDR:-$SLURMD_NODENAME}"; '
                f'set -- "${{@//{NODE_RANK}/$SLURM_NODEID}}"; set -- "${{@//{MASTER_ADDR}/$MASTER_ADDR}}"; '
                f'set -- "${{@//{NODE_ADDR}/$NODE_ADDR}}"; '
                f'set -- "${{@//{JOB_ID}/$SLURM_JOB_ID}}"; exec "$@"')


@dataclass(frozen=True)
class SlurmRun:
    """`--launcher slurm` and its options: where and how big the job is."""

    nodes: int = 1
    gpus_per_node: int | None = None  # default: the run's --gpus (the recipe's count)
    partition: str | None = None
    time: str | None = None  # the job's time limit, sbatch's syntax (minutes, H:M:S, D-H:M:S)
    account: str | None = None
    container_image: str | None = None  # pyxis/enroot: srun --container-image
    # "gres" (--gres=gpu:G, any Slurm) or "gpus-per-node" (Slurm >= 19.05, cons_tres)
    gpu_request: str = "gres"
    signal_lead_s: int = SIGNAL_LEAD_S
    port: int = DEFAULT_PORT
    exclusive: bool = True  # a benchmark shares its nodes with nothing

    def __post_init__(self) -> None:
        if self.nodes < 1:
            raise BenchError(f"--nodes {self.nodes}: must be 1 or more")
        if self.gpus_per_node is not None and self.gpus_per_node < 0:
            raise BenchError(f"--gpus-per-node {self.gpus_per_node}: must be 0 (CPU) or more")
        if self.time is not None and not _TIME.fullmatch(self.time):
            raise BenchError(f"--time {self.time!r}: expected minutes, H:M:S or D-H:M:S (sbatch's syntax)")
        if self.gpu_request not in GPU_REQUESTS:
            raise BenchError(f"GPU request {self.gpu_request!r}: choose {' or '.join(GPU_REQUESTS)}")


@dataclass(frozen=True)
class ScriptPaths:
    """Where the job runs and writes (paths the nodes see: a shared file system)."""

    workdir: Path  # the launch directory (the checkout, or the run directory)
    output: Path  # the run's output directory ({output}); the nodes' nvidia-smi logs go here too
    stdout: Path
    stderr: Path
    mounts: tuple[Path, ...] = ()  # writable paths a container needs besides workdir and output
    read_only: tuple[Path, ...] = ()  # the data


def directive(flag: str, value: object | None = None) -> str:
    """One `#SBATCH --flag=value` line; a value outside a plain character set is refused (sbatch parses these
    lines itself: a quote or a space there would not mean what a shell reader expects)."""
    if value is None:
        return f"#SBATCH --{flag}"
    text = str(value)
    if not _SBATCH_VALUE.fullmatch(text):
        raise BenchError(f"--{flag} {text!r}: a value in an #SBATCH line may only hold letters, digits "
                         "and _.,:@/=+%-")
    return f"#SBATCH --{flag}={shell_quote(text)}"


def node_argv(argv: Sequence[str], run: SlurmRun, gpus: int, *, recipe: str,
              variant: str = "current") -> list[str]:
    """What every node's task executes: the one-node argv itself, or its multi-node form with sentinels."""
    argv = list(argv)
    for word in argv:
        if any(s in word for s in SENTINELS):
            raise BenchError(f"recipe {recipe!r}: its command holds {word!r}, which bench uses as a "
                             "placeholder")
    if run.nodes == 1:
        return argv
    kind = distributed.launcher_kind(argv)
    # mmdetection's script reads NNODES/NODE_RANK/MASTER_ADDR/PORT (exported below)
    if kind == "dist-train-sh":
        if variant == "published":
            raise BenchError(f"recipe {recipe!r}: its tools/dist_train.sh has no multi-node support at the "
                             "pinned commit; run it on one node")
        return argv
    topo = distributed.Topology(run.nodes, gpus, MASTER_ADDR, str(run.port), NODE_RANK, JOB_ID,
                                local_addr=NODE_ADDR)
    return distributed.multi_node_argv(argv, topo, recipe=recipe)


def srun_argv(run: SlurmRun, paths: ScriptPaths) -> list[str]:
    """One task per node; with an image, pyxis runs it there with the run's paths mounted at the same
    places."""
    argv = ["srun", f"--nodes={run.nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    if run.container_image:
        mounts = [f"{p}:{p}" for p in (paths.workdir, paths.output, *paths.mounts)]
        mounts += [f"{p}:{p}:ro" for p in paths.read_only]
        for mount in mounts:
            if "," in mount:
                raise BenchError(f"{mount.split(':')[0]}: a path with ',' cannot be mounted by pyxis")
        argv += [f"--container-image={run.container_image}", f"--container-mounts={','.join(mounts)}",
                 f"--container-workdir={paths.workdir}"]
    return argv


def resource_lines(run: SlurmRun, gpus: int, name: str) -> list[str]:
    lines = [directive("job-name", name), directive("nodes", run.nodes), directive("ntasks-per-node", 1)]
    if gpus > 0:
        lines.append(directive("gres", f"gpu:{gpus}") if run.gpu_request == "gres"
                     else directive("gpus-per-node", gpus))
    for flag, value in (("partition", run.partition), ("account", run.account), ("time", run.time)):
        if value:
            lines.append(directive(flag, value))
    if run.exclusive:
        lines.append(directive("exclusive"))
    lines.append(directive("signal", f"TERM@{run.signal_lead_s}"))
    return lines


def first_node_address_lines() -> list[str]:
    """MASTER_ADDR: the address Slurm knows for the job's first node (its NodeAddr), not only its name, which
    need not resolve on the other nodes."""
    return ['FIRST_NODE="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
            f'MASTER_ADDR="{node_address("$FIRST_NODE")}"', 'MASTER_ADDR="${MASTER_ADDR:-$FIRST_NODE}"']


def trainer_in_batch_step(argv: Sequence[str]) -> bool:
    """mpirun runs in the batch script itself (it starts the ranks); every other launch is an srun step."""
    return distributed.launcher_kind(list(argv)) == "mpirun"


def sampler_lines(run: SlurmRun, sampler: Sequence[str] | None) -> list[str]:
    """bench's telemetry sampler (bench.telemetry.sampler --slurm), one per node in a step of its own that
    overlaps the training's, started before it; Slurm ends it with the job's steps. Its series land in the run
    directory, one per node."""
    if not sampler:
        return []
    step = ["srun", "--overlap", f"--nodes={run.nodes}", "--ntasks-per-node=1", f"--chdir={PACKAGE_ROOT}",
            *sampler]
    return ["# telemetry: one sampler per node, beside the training (it ends with the job's steps)",
            shell_join(step) + " &"]


def render_script(*, recipe: str, variant: str, argv: Sequence[str], env: Mapping[str, str], run: SlurmRun,
                  gpus: int, paths: ScriptPaths, job_name: str, title: str = "",
                  sampler: Sequence[str] | None = None) -> str:
    """The batch script. `argv`: the recipe's one-node command, rendered with the run's paths; `env`: the
    variables the recipe sets (the rest of the environment is the submitter's, which sbatch exports by
    default); `sampler`: the telemetry sampler's argv on each node (none: no telemetry)."""
    lines = ["#!/bin/bash", shell_comment(f"bench: {title or recipe} on {run.nodes} node(s) x {gpus} GPU(s)"),
             *resource_lines(run, gpus, job_name), directive("chdir", paths.workdir),
             directive("output", paths.stdout), directive("error", paths.stderr), "set -eu"]
    lines += [shell_assignment(key, value, export=True) for key, value in env.items()]
    lines += [*first_node_address_lines(),
              shell_assignment("MASTER_PORT", run.port), 'NNODES="$SLURM_JOB_NUM_NODES"',
              "export MASTER_ADDR MASTER_PORT NNODES PORT=\"$MASTER_PORT\"",
              'echo "bench: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST, first node $MASTER_ADDR" >&2',
              *sampler_lines(run, sampler)]
    # mpirun starts every rank itself, on the allocation Slurm gave it (OpenMPI reads it)
    if trainer_in_batch_step(argv):
        command = (list(argv) if run.nodes == 1
                   else distributed.mpi_launcher_argv(list(argv), run.nodes * gpus, recipe=recipe))
        lines += ["if command -v nvidia-smi >/dev/null 2>&1; then srun --ntasks-per-node=1 bash -c "
                  + shell_quote('nvidia-smi -q -x >"$1/nvidia-smi.$SLURMD_NODENAME.xml" 2>&1 || true')
                  + f" bench-gpus {shell_quote(paths.output)} || true; fi", "exec " + shell_join(command)]
    else:
        command = node_argv(argv, run, gpus, recipe=recipe, variant=variant)
        lines.append("exec " + shell_join([*srun_argv(run, paths), "bash", "-c", _NODE_SCRIPT, "bench-node",
                                           paths.output, *command]))
    return "\n".join(lines) + "\n"
