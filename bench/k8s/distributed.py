"""Turning a recipe's one-node launch argv into a multi-node one, for the launchers bench knows.

Kubernetes expands `$(VAR)` in a container's command and args from that container's environment, so the node
rank and the master address stay symbolic here and no shell is needed."""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import BenchError


@dataclass(frozen=True)
class Topology:
    nodes: int
    gpus_per_node: int
    master_addr: str  # an expression the kubelet expands, e.g. "$(MASTER_ADDR)"
    master_port: str
    node_rank: str
    rendezvous_id: str
    # this node's own address, where the launcher should use it instead of the machine's name (torchrun's
    # --local-addr: what the first node advertises to the workers as MASTER_ADDR); None: the launcher's own
    local_addr: str | None = None


TORCHRUN_MODULES = ("torch.distributed.run",)
STATIC_LAUNCH_MODULES = ("torch.distributed.launch",)
# Options a multi-node launch sets itself; a recipe's own values for them are dropped.
_TORCH_LAUNCH_OPTIONS = {"--nnodes", "--node_rank", "--node-rank", "--master_addr", "--master-addr",
                         "--master_port", "--master-port", "--rdzv_backend", "--rdzv-backend",
                         "--rdzv_endpoint", "--rdzv-endpoint", "--rdzv_id", "--rdzv-id", "--local-addr",
                         "--local_addr"}
_TORCH_LAUNCH_FLAGS = {"--standalone"}


def launcher_kind(argv: list[str]) -> str:
    """'torchrun', 'torch-launch' (static, torch < 1.10), 'detectron2' (--num-gpus, its own mp.spawn),
    'dist-train-sh' (mmdetection's script: multi-node through NNODES/NODE_RANK/MASTER_ADDR/PORT in 3.x),
    'mpirun', or 'single' (one process drives every GPU: no multi-node form)."""
    program = argv[0].rsplit("/", 1)[-1] if argv else ""
    if program == "torchrun":
        return "torchrun"
    module = _python_module(argv)
    if module in TORCHRUN_MODULES:
        return "torchrun"
    if module in STATIC_LAUNCH_MODULES:
        return "torch-launch"
    if program == "dist_train.sh":
        return "dist-train-sh"
    if program in ("mpirun", "mpiexec", "horovodrun"):
        return "mpirun"
    if "--num-gpus" in argv:
        return "detectron2"
    return "single"


def _python_module(argv: list[str]) -> str | None:
    if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1].startswith("python") and argv[1] == "-m":
        return argv[2]
    return None


def _launcher_end(argv: list[str]) -> int:
    """Index just after the launcher itself (`torchrun` or `python -m module`)."""
    return 3 if _python_module(argv) else 1


def _without_options(args: list[str], options: set[str], flags: set[str]) -> list[str]:
    """`args` without the given options (`--opt value` or `--opt=value`) and flags, up to the script name."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        key = arg.split("=", 1)[0]
        if not arg.startswith("-"):
            return out + args[i:]  # the training script: everything after it belongs to the script
        if key in options:
            i += 1 if "=" in arg else 2
            continue
        if arg not in flags:
            out.append(arg)
        i += 1
    return out


def multi_node_argv(argv: list[str], topo: Topology, *, recipe: str) -> list[str]:
    """The argv one pod of a several-node run executes (each pod runs `gpus_per_node` processes)."""
    kind = launcher_kind(argv)
    head, rest = argv[:_launcher_end(argv)], argv[_launcher_end(argv):]
    if kind == "torchrun":
        rest = _without_options(rest, _TORCH_LAUNCH_OPTIONS, _TORCH_LAUNCH_FLAGS)
        local = [f"--local-addr={topo.local_addr}"] if topo.local_addr else []
        return head + [f"--nnodes={topo.nodes}", "--rdzv-backend=c10d",
                       f"--rdzv-endpoint={topo.master_addr}:{topo.master_port}",
                       f"--rdzv-id={topo.rendezvous_id}", *local, *rest]
    if kind == "torch-launch":  # no c10d rendezvous before torch 1.10: the static form, rank from the index
        rest = _without_options(rest, _TORCH_LAUNCH_OPTIONS, _TORCH_LAUNCH_FLAGS)
        return head + [f"--nnodes={topo.nodes}", f"--node_rank={topo.node_rank}",
                       f"--master_addr={topo.master_addr}", f"--master_port={topo.master_port}", *rest]
    if kind == "detectron2":
        # insert right after --num-gpus N: a trailing REMAINDER swallows what follows `opts`
        at = argv.index("--num-gpus") + 2
        return argv[:at] + ["--num-machines", str(topo.nodes), "--machine-rank", topo.node_rank,
                            "--dist-url", f"tcp://{topo.master_addr}:{topo.master_port}"] + argv[at:]
    raise BenchError(f"recipe {recipe!r} cannot run on several nodes as a Job: its command {argv[:3]} "
                     + ("is an MPI launch (use its MPIJob)" if kind == "mpirun" else
                        "drives every GPU from one process and has no multi-node launcher"))


_MPI_ONE_VALUE = {"-x", "-bind-to", "--bind-to", "-map-by", "--map-by", "-wdir", "--wdir", "-output-filename",
                  "--output-filename", "-npernode", "--npernode"}
_MPI_TWO_VALUES = {"-mca", "--mca", "-gmca", "--gmca"}


def mpi_launcher_argv(argv: list[str], total_processes: int, *, recipe: str) -> list[str]:
    """The MPIJob launcher's mpirun argv: the process count becomes the job's total and host lists are dropped
    (the operator supplies the hostfile through OMPI_MCA_orte_default_hostfile)."""
    if launcher_kind(argv) != "mpirun":
        raise BenchError(f"recipe {recipe!r}: an MPIJob needs an mpirun/horovodrun command, got {argv[:1]}")
    out, i, has_np = [argv[0]], 1, False
    while i < len(argv):
        arg = argv[i]
        if arg in ("-np", "-n", "--np"):
            out += [arg, str(total_processes)]
            has_np = True
            i += 2
        elif arg in ("-H", "--host", "-hostfile", "--hostfile"):
            i += 2
        elif arg in _MPI_TWO_VALUES or arg in _MPI_ONE_VALUE:
            width = 3 if arg in _MPI_TWO_VALUES else 2
            out += argv[i:i + width]
            i += width
        elif not arg.startswith("-"):
            out += ([] if has_np else ["-np", str(total_processes)]) + argv[i:]
            return out
        else:
            out.append(arg)
            i += 1
    return out
