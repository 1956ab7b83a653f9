"""The sbatch script on paper (fast tier): resources, the framework's multi-node launch, pyxis, the signal,
quoting. The node script is also run by a real bash, with the variables Slurm would set, to see what argv it
executes."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.slurm.render import ScriptPaths, SlurmRun, directive, render_script

PATHS = ScriptPaths(workdir=Path("/shared/src"), output=Path("/shared/run/output"),
                    stdout=Path("/shared/run/out.log"), stderr=Path("/shared/run/err.log"),
                    mounts=(Path("/shared/run"),), read_only=(Path("/coco"),))
TORCHRUN = ["python", "-m", "torch.distributed.run", "--nproc_per_node=8", "--standalone", "train.py", "--lr",
            "0.1"]
DETECTRON2 = ["python", "tools/train_net.py", "--config-file", "c.yaml", "--num-gpus", "8",
              "SOLVER.IMS_PER_BATCH", "32"]
MPIRUN = ["mpirun", "-np", "8", "-H", "localhost:8", "./train.py", "--config", "TRAINER=horovod"]


def script(argv, run: SlurmRun, gpus: int = 8, env=None) -> str:
    return render_script(recipe="r", variant="current", argv=argv, env=env or {}, run=run, gpus=gpus,
                         paths=PATHS, job_name="bench-r")


def node_argv(text: str, node_id: int, master: str = "node-a", job_id: str = "77") -> list[str]:
    """What the node with SLURM_NODEID=node_id executes: the script's srun line, run by bash with srun
    replaced by a printer of its argv (after srun's own options)."""
    (line,) = [line for line in text.splitlines() if line.startswith("exec srun ")]
    words = shlex.split(line)[2:]
    at = words.index("bash")
    printer = [sys.executable, "-c", "import sys; print('\\0'.join(sys.argv[1:]))"]
    env = {"SLURM_NODEID": str(node_id), "MASTER_ADDR": master, "SLURM_JOB_ID": job_id,
           "SLURMD_NODENAME": "n", "PATH": "/nonexistent"}  # no nvidia-smi
    words = words[at:]
    done = subprocess.run(["/bin/bash", *words[1:5], *printer, *words[5:]], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.rstrip("\n").split("\0")


def test_two_node_torchrun_rendezvous_on_the_first_node() -> None:
    text = script(TORCHRUN, SlurmRun(nodes=2))
    assert ('#SBATCH --nodes=2' in text and "#SBATCH --ntasks-per-node=1" in text
            and "#SBATCH --gres=gpu:8" in text)
    assert 'FIRST_NODE="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"' in text
    argv = node_argv(text, 1)
    # no scontrol here: the node's address falls back to its name (SLURMD_NODENAME)
    assert argv == ["python", "-m", "torch.distributed.run", "--nnodes=2", "--rdzv-backend=c10d",
                    "--rdzv-endpoint=node-a:29500", "--rdzv-id=77", "--local-addr=n", "--nproc_per_node=8",
                    "train.py", "--lr", "0.1"]


def test_two_node_detectron2_gets_machine_rank_and_dist_url_per_node() -> None:
    text = script(DETECTRON2, SlurmRun(nodes=2, port=12345))
    for node in (0, 1):
        assert node_argv(text, node) == ["python", "tools/train_net.py", "--config-file", "c.yaml",
                                         "--num-gpus", "8", "--num-machines", "2", "--machine-rank",
                                         str(node), "--dist-url", "tcp://node-a:12345",
                                         "SOLVER.IMS_PER_BATCH", "32"]


def test_one_node_runs_the_recipe_command_unchanged() -> None:
    assert node_argv(script(TORCHRUN, SlurmRun()), 0) == TORCHRUN


def test_mpirun_starts_every_rank_from_the_batch_script() -> None:
    text = script(MPIRUN, SlurmRun(nodes=2))
    # host list dropped: Slurm's allocation
    assert "exec mpirun -np 16 ./train.py --config TRAINER=horovod" in text
    assert "srun --ntasks-per-node=1 bash -c" in text  # only for the nodes' nvidia-smi


def test_gpu_request_forms_signal_and_options() -> None:
    text = script(TORCHRUN, SlurmRun(nodes=2, gpu_request="gpus-per-node", partition="gpu", account="proj-1",
                                     time="2:00:00", signal_lead_s=300))
    lines = text.splitlines()
    for expected in ("#SBATCH --gpus-per-node=8", "#SBATCH --partition=gpu", "#SBATCH --account=proj-1",
                     "#SBATCH --time=2:00:00", "#SBATCH --signal=TERM@300", "#SBATCH --exclusive",
                     "#SBATCH --output=/shared/run/out.log", "#SBATCH --error=/shared/run/err.log",
                     "#SBATCH --chdir=/shared/src"):
        assert expected in lines
    assert not any(line.startswith("#SBATCH --gres") for line in lines)
    assert not any("gres" in line or "gpus-per-node" in line
                   for line in script(TORCHRUN, SlurmRun(), 0).splitlines() if line.startswith("#SBATCH"))


def test_pyxis_mounts_the_run_paths_and_the_data_read_only() -> None:
    text = script(TORCHRUN, SlurmRun(container_image="nvcr.io#nvidia/pytorch:24.01-py3"))
    (line,) = [line for line in text.splitlines() if line.startswith("exec srun ")]
    words = shlex.split(line)
    assert "--container-image=nvcr.io#nvidia/pytorch:24.01-py3" in words
    assert ("--container-mounts=/shared/src:/shared/src,/shared/run/output:/shared/run/output,"
            "/shared/run:/shared/run,/coco:/coco:ro") in words
    assert "--container-workdir=/shared/src" in words


def test_nvidia_smi_of_each_node_is_logged() -> None:
    assert 'nvidia-smi -q -x >"$1/nvidia-smi.$SLURMD_NODENAME.xml"' in script(TORCHRUN, SlurmRun())


def test_values_are_quoted_and_sbatch_values_checked() -> None:
    text = script(["python", "train.py", "--name", "a b; rm -rf /"], SlurmRun(), env={"NOTE": "it's $(here)"})
    assert "export NOTE='it'\"'\"'s $(here)'" in text
    assert node_argv(text, 0) == ["python", "train.py", "--name", "a b; rm -rf /"]
    with pytest.raises(BenchError, match="--partition"):
        script(TORCHRUN, SlurmRun(partition="gpu\n#SBATCH --uid=0"))
    with pytest.raises(BenchError, match="--time"):
        SlurmRun(time="soon")
    assert directive("job-name", "bench-x_1.2") == "#SBATCH --job-name=bench-x_1.2"


def test_a_one_process_command_is_refused_on_two_nodes() -> None:
    with pytest.raises(BenchError, match="no multi-node launcher"):
        script(["python", "train.py", "--gpus", "8"], SlurmRun(nodes=2))


def test_slurm_options_need_the_slurm_launcher(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench.cli", "run", "builtin", "--partition", "gpu",
                           "--dry-run"], capture_output=True, text=True)
    assert done.returncode == 2 and "need --launcher slurm" in done.stderr and "Traceback" not in done.stderr


def test_bench_slurm_render_prints_the_script_for_a_recipe(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench.cli", "slurm", "render", "detectron2", "--nodes", "2",
                           "--data", str(tmp_path), "--workdir", str(tmp_path / "job")], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert f"#SBATCH --output={tmp_path}/job/stdout.log" in done.stdout
    assert "--num-machines 2 --machine-rank @BENCH_NODE_RANK@" in done.stdout
    assert "SOLVER.IMS_PER_BATCH 32" in done.stdout  # 2 images per GPU on 16 GPUs


@pytest.mark.parametrize("argv", [TORCHRUN, MPIRUN], ids=["srun-step", "batch-step"])
def test_one_telemetry_sampler_per_node_starts_before_the_training(argv) -> None:
    from bench.telemetry.control import PACKAGE_ROOT, node_sampler_argv

    sampler = node_sampler_argv(Path("/shared/run"), 8, python="/shared/venv/bin/python")
    text = render_script(recipe="r", variant="current", argv=argv, env={}, run=SlurmRun(nodes=2), gpus=8,
                         paths=PATHS, job_name="bench-r", sampler=sampler)
    lines = text.splitlines()
    (step,) = [k for k, line in enumerate(lines) if "bench.telemetry.sampler" in line]
    assert shlex.split(lines[step]) == ["srun", "--overlap", "--nodes=2", "--ntasks-per-node=1",
                                        f"--chdir={PACKAGE_ROOT}", *sampler, "&"]
    assert sampler[-3:] == ["--slurm", "--gpus", "slurm"]
    assert step < next(k for k, line in enumerate(lines) if line.startswith("exec "))
    assert "bench.telemetry" not in script(argv, SlurmRun(nodes=2))  # --no-telemetry: no sampler


# -- what bench asks the controller (a stand-in scontrol printing what Slurm 22.05's `scontrol -o` prints) --
STUB_SCONTROL = r"""#!/bin/sh
case "$*" in
  "show hostnames n[1-2]") printf 'n1\nn2\n' ;;
  "-o show node n1") echo "NodeName=n1 Arch=x86_64 CoresPerSocket=1 NodeAddr=10.1.2.3 NodeHostName=h State=IDLE" ;;
  "-o show node n2") echo "NodeName=n2 Arch=x86_64 CoresPerSocket=1 NodeAddr=10.1.2.4 NodeHostName=h State=IDLE" ;;
  "-o show node n[1-2]")
    echo "NodeName=n1 Arch=x86_64 NodeAddr=10.1.2.3 NodeHostName=h State=ALLOCATED Weight=1"
    echo "NodeName=n2 Arch=x86_64 NodeAddr=10.1.2.4 NodeHostName=h State=DOWN+NOT_RESPONDING Weight=1 Reason=Not responding [slurm@2026-12-07T01:00:00]" ;;
  "-o show partition")
    echo "PartitionName=other AllowGroups=ALL Default=NO MaxNodes=UNLIMITED Nodes=o[1-9] TotalNodes=9"
    echo "PartitionName=debug AllowGroups=ALL Default=YES MaxNodes=UNLIMITED Nodes=n[1-2] TotalNodes=2" ;;
  "-o show partition small") echo "PartitionName=small Default=NO MaxNodes=4 Nodes=s[1-8] TotalNodes=8" ;;
  "-o show partition nosuch") echo "Partition nosuch not found"; exit 1 ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
"""  # noqa: E501


@pytest.fixture
def stub_env(tmp_path: Path) -> dict[str, str]:
    stub = tmp_path / "bin" / "scontrol"
    stub.parent.mkdir()
    stub.write_text(STUB_SCONTROL)
    stub.chmod(0o755)
    return {"PATH": f"{stub.parent}:/usr/bin:/bin"}


def test_the_rendezvous_is_at_the_first_nodes_nodeaddr_and_each_node_gives_its_own(stub_env) -> None:
    from bench.slurm.render import first_node_address_lines

    shell = "\n".join([*first_node_address_lines(), 'echo "$MASTER_ADDR"'])
    done = subprocess.run(["/bin/bash", "-c", shell], env={**stub_env, "SLURM_JOB_NODELIST": "n[1-2]"},
                          capture_output=True, text=True, check=True)
    assert done.stdout == "10.1.2.3\n"  # n1's NodeAddr, not the name n1
    text = script(TORCHRUN, SlurmRun(nodes=2))
    (line,) = [line for line in text.splitlines() if line.startswith("exec srun ")]
    words = shlex.split(line)[2:]
    at = words.index("bash")
    printer = [sys.executable, "-c", "import sys; print('\\0'.join(sys.argv[1:]))"]
    env = {**stub_env, "SLURM_NODEID": "1", "MASTER_ADDR": "10.1.2.3", "SLURM_JOB_ID": "77",
           "SLURMD_NODENAME": "n2"}
    done = subprocess.run(["/bin/bash", *words[at + 1:at + 5], *printer, *words[at + 5:]], env=env,
                          capture_output=True, text=True, check=True)
    argv = done.stdout.rstrip("\n").split("\0")
    assert "--rdzv-endpoint=10.1.2.3:29500" in argv and "--local-addr=10.1.2.4" in argv


def test_what_the_partition_cannot_give_is_said_before_submission(stub_env) -> None:
    from bench.launch.slurm import partition_problem

    assert partition_problem(SlurmRun(nodes=2), stub_env) is None
    assert partition_problem(SlurmRun(nodes=3), stub_env) == (
        "--nodes 3: partition debug has 2 node(s) (n[1-2])")
    assert partition_problem(SlurmRun(nodes=5, partition="small"), stub_env) == (
        "--nodes 5: partition small lets a job have at most 4 node(s) (MaxNodes)")
    assert partition_problem(SlurmRun(partition="nosuch"), stub_env).startswith(
        "--partition nosuch: no such partition on this cluster (Partition nosuch not found)")


def test_the_record_names_the_nodes_and_what_failed_where(stub_env, tmp_path: Path) -> None:
    from bench.launch.slurm import job_nodes

    stderr = tmp_path / "stderr.log"
    stderr.write_text("bench: job 5 on n[1-2], first node 10.1.2.3\nsrun: error: n2: task 1: Killed\n"
                      "srun: error: Node failure on n2\nsrun: error: n1: task 0: Exited with exit code 1\n")
    facts = job_nodes("n[1-2]", stderr, stub_env)
    assert facts["node_names"] == ["n1", "n2"]
    assert facts["node_addresses"] == {"n1": "10.1.2.3", "n2": "10.1.2.4"}
    assert facts["node_trouble"] == [
        "node n2 is DOWN+NOT_RESPONDING (Not responding [slurm@2026-12-07T01:00:00])",
        "node n2: task 1: Killed", "node n2: node failure", "node n1: task 0: Exited with exit code 1"]


STUB_SQUEUE = r"""#!/bin/sh
n=$(cat "$0.count" 2>/dev/null || echo 0); echo $((n + 1)) > "$0.count"
case $n in
  0|1) echo "slurm_load_jobs error: Socket timed out on send/recv operation" >&2; exit 1 ;;
  2) echo "RUNNING|None|n1|debug" ;;
  *) ;;
esac
"""


def test_a_controller_that_does_not_answer_is_not_the_jobs_end(tmp_path: Path) -> None:
    """squeue failing twice (a busy slurmctld) must not end the follow: only squeue's empty answer does, and
    then scontrol says how the job ended."""
    from bench.launch.slurm import JobFacts, SlurmLauncher

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("squeue", STUB_SQUEUE),
                       ("sacct", "#!/bin/sh\necho 'accounting storage is disabled' >&2; exit 1\n"),
                       ("scontrol", "#!/bin/sh\necho 'JobId=7 JobState=COMPLETED ExitCode=0:0 "
                                    "RunTime=00:00:01 NodeList=n1 Partition=debug'\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    said: list[str] = []
    launcher = SlurmLauncher("#!/bin/bash\n", run_dir=tmp_path, env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                             poll_s=0.01, say=said.append)
    launcher.facts = JobFacts(job_id="7")
    launcher._follow()
    assert (bin_dir / "squeue.count").read_text().strip() == "4"  # 2 failures, the running row, the empty one
    assert said == ["bench: slurm job 7: squeue did not answer; asking again",
                    "bench: slurm job 7 running on n1"]
    assert launcher.facts.state == "COMPLETED" and launcher.facts.source == "scontrol"
