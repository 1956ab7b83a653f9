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
    assert 'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"' in text
    argv = node_argv(text, 1)
    assert argv == ["python", "-m", "torch.distributed.run", "--nnodes=2", "--rdzv-backend=c10d",
                    "--rdzv-endpoint=node-a:29500", "--rdzv-id=77", "--nproc_per_node=8", "train.py", "--lr",
                    "0.1"]


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
