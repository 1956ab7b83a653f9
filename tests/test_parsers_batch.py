"""Every parser reads the batch its trainer prints: each log head below is written from the upstream format
strings at the pinned commits (cited in each parser's docstring) with a batch the test chooses, and the
expected global images per iteration is computed here by hand. Then `bench parse` uses the log's number
(issue 12)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.logs.registry import new_parser
from parser_cases import detectron2_lines, expected_img_s, step_times
from writers import write_log

ROOT = Path(__file__).resolve().parents[1]


def d2_head(gpus: int, machines: int, ims: int, override: int | None, reference: int = 0) -> list[str]:
    opts = f"'SOLVER.IMS_PER_BATCH', '{override}', " if override is not None else ""
    namespace = (f"Namespace(config_file='configs/COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml', "
                 f"resume=False, eval_only=False, num_gpus={gpus}, num_machines={machines}, machine_rank=0, "
                 f"dist_url='tcp://127.0.0.1:49152', opts=[{opts}'OUTPUT_DIR', '/out'])")
    effective = override if override is not None else ims
    return [f"Command Line Args: {namespace}",
            f"[05/14 10:02:10 detectron2]: Rank of current process: 0. World size: {gpus * machines}",
            f"[05/14 10:02:10 detectron2]: Command line arguments: {namespace}",
            "[05/14 10:02:10 detectron2]: Contents of args.config_file=configs/x.yaml:",
            "SOLVER:", f"  IMS_PER_BATCH: {ims}",  # the file's value, before the opts
            "[05/14 10:02:10 detectron2]: Running with full config:",
            "CUDNN_BENCHMARK: false", "DATALOADER:", "  ASPECT_RATIO_GROUPING: true", "SOLVER:", "  AMP:",
            "    ENABLED: false", "  BASE_LR: 0.02", f"  IMS_PER_BATCH: {effective}",
            f"  REFERENCE_WORLD_SIZE: {reference}", "  STEPS:", "  - 60000", "  - 80000", "TEST:",
            "  DETECTIONS_PER_IMAGE: 100",
            "[05/14 10:02:10 detectron2]: Full config saved to /out/config.yaml"]


def mrcnn_head(gpus: int, ims: int) -> list[str]:
    p = "2020-05-14 10:02:10,100 maskrcnn_benchmark INFO: "
    return [p + f"Using {gpus} GPUs", p + "Namespace(config_file='x.yaml', distributed=True, local_rank=0)",
            p + "Running with config:", "DATALOADER:", "  NUM_WORKERS: 4", "SOLVER:", "  BASE_LR: 0.02",
            f"  IMS_PER_BATCH: {ims}", "  MAX_ITER: 90000", "TEST:", "  IMS_PER_BATCH: 8",
            p + "Start training"]


def mmdet_v2_head(per_gpu: int, gpus: int) -> list[str]:
    p = "2020-05-14 10:02:10,100 - mmdet - INFO - "
    return [p + "Distributed training: True", p + "Config:", "model = dict(", "    type='MaskRCNN',",
            "    backbone=dict(type='ResNet', depth=50))", "data = dict(", f"    samples_per_gpu={per_gpu},",
            "    workers_per_gpu=2,", "    train=dict(", "        type='CocoDataset',",
            "        pipeline=[dict(type='LoadImageFromFile'), dict(type='Collect', samples_per_gpu=99)]),",
            "    val=dict(type='CocoDataset'))", "evaluation = dict(interval=1, metric=['bbox', 'segm'])",
            f"gpu_ids = range(0, {gpus})", p + "Start running, host: u@h, work_dir: /w"]


def mmengine_head(per_gpu: int, gpus: int) -> list[str]:
    p = "2023/03/13 10:31:00 - mmengine - INFO - "
    return [p, "------------------------------------------------------------", "System environment:",
            "    sys.platform: linux", "", "Runtime environment:", "    cudnn_benchmark: False",
            "    seed: 0",
            "    Distributed launcher: pytorch", "    Distributed training: True", f"    GPU number: {gpus}",
            "------------------------------------------------------------", p + "Config:",
            "auto_scale_lr = dict(base_batch_size=16, enable=False)", "train_dataloader = dict(",
            "    batch_sampler=dict(type='AspectRatioBatchSampler'),", f"    batch_size={per_gpu},",
            "    dataset=dict(", "        batch_size=7,", "        type='CocoDataset'),",
            "    num_workers=2)",
            "val_dataloader = dict(batch_size=1, num_workers=2)"]


def torchvision_head(per_gpu: int, world: int, slurm: bool = False) -> list[str]:
    printed_world = 1 if slurm else world  # under SLURM init_distributed_mode leaves --world-size's default
    return [f"| distributed init (rank {r}): env://" for r in range(world)] + [
        f"Namespace(data_path='/data/coco', dataset='coco', model='maskrcnn_resnet50_fpn', device='cuda', "
        f"batch_size={per_gpu}, epochs=26, workers=4, world_size={printed_world}, dist_url='env://', rank=0, "
        f"gpu=0, distributed=True, dist_backend='nccl')", "Start training"]


def tensorpack_head(size: int) -> list[str]:
    p = "[0514 10:02:10 @config.py:288] "
    return [p + f"Horovod Rank=0, Size={size}, LocalRank=0",
            "[0514 10:02:10 @config.py:309] Config: ------------------------------------------",
            "{'BACKBONE': {'FREEZE_AT': 2, 'NORM': 'FreezeBN', 'STRIDE_1X1': True},",
            f" 'TRAIN': {{'BASE_LR': 0.01, 'CHECKPOINT_PERIOD': 20, 'EVAL_PERIOD': 25, 'NUM_GPUS': {size},",
            "           'STEPS_PER_EPOCH': 50, 'WEIGHT_DECAY': 0.0001}}"]


def detectron_head(per_gpu: int, gpus: int) -> list[str]:
    return ["INFO train_net.py:  95: Called with args:",
            "INFO train_net.py: 106: Training with config:",
            "INFO train_net.py: 107: {'BBOX_XFORM_CLIP': 4.135166556742356,",
            " 'MODEL': {'CONV_BODY': 'FPN.add_fpn_ResNet50_conv5_body',",
            "           'NUM_CLASSES': 81},", f" 'NUM_GPUS': {gpus},",
            " 'TEST': {'BBOX_AUG': {'ENABLED': False},", "          'IMS_PER_BATCH': 1,",
            "          'NMS': 0.5},",
            " 'TRAIN': {'ASPECT_GROUPING': True,", f"           'IMS_PER_BATCH': {per_gpu},",
            "           'WEIGHTS': '/x.pkl'},", " 'VIS': False}", "INFO train.py: 188: Loading dataset: coco"]


def keras_head(per_gpu: int, gpus: int) -> list[str]:
    rows = {"BACKBONE": "resnet50", "BATCH_SIZE": per_gpu * gpus, "GPU_COUNT": gpus,
            "IMAGES_PER_GPU": per_gpu,
            "LEARNING_RATE": 0.001}
    return ["", "Configurations:"] + [f"{k:30} {v}" for k, v in rows.items()] + ["", ""]


# name -> (head lines, expected (images, world size)), each expected value computed by hand
CASES = {
    "detectron2 opts override, 4 GPUs x 2 machines": ("detectron2", d2_head(4, 2, 16, 2), (2, 8)),
    "detectron2 config value": ("detectron2", d2_head(8, 1, 16, None), (16, 8)),
    "detectron2 auto_scale_workers": ("detectron2", d2_head(4, 1, 16, None, reference=8), (8, 4)),
    "maskrcnn-benchmark": ("maskrcnn-benchmark", mrcnn_head(8, 16), (16, 8)),
    "mmdet-v2 samples_per_gpu x gpu_ids": ("mmdet-v2", mmdet_v2_head(2, 8), (16, 8)),
    "mmengine batch_size x GPU number": ("mmengine", mmengine_head(4, 2), (8, 2)),
    "torchvision Namespace": ("torchvision", torchvision_head(2, 4), (8, 4)),
    "torchvision under SLURM": ("torchvision", torchvision_head(3, 4, slurm=True), (12, 4)),
    "torchvision one process": ("torchvision", ["Not using distributed mode", "Namespace(batch_size=2, "
                                                "world_size=1, dist_url='env://', distributed=False)"],
                                (2, 1)),
    "tensorpack NUM_GPUS": ("tensorpack", tensorpack_head(4), (4, 4)),
    "detectron IMS_PER_BATCH x NUM_GPUS": ("detectron", detectron_head(2, 4), (8, 4)),
    "keras BATCH_SIZE": ("keras", keras_head(2, 8), (16, 8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_read_from_the_log(case: str) -> None:
    name, head, (images, world) = CASES[case]
    parser = new_parser(name)
    for line in head:
        parser.feed(line + "\n")
    assert parser.batch is not None, case
    assert (parser.batch.images_per_iter, parser.batch.world_size) == (images, world)
    assert parser.batch.line_no >= 1 and parser.batch.text


def test_mmdet_v2_json_reads_the_config_of_its_meta_line() -> None:
    config = "\n".join(mmdet_v2_head(4, 2)[2:-1])
    parser = new_parser("mmdet-v2-json")
    parser.feed(json.dumps({"env_info": "sys.platform: linux", "config": config, "seed": 0}) + "\n")
    assert parser.batch is not None and (parser.batch.images_per_iter, parser.batch.world_size) == (8, 2)


@pytest.mark.parametrize("name", ["simpledet", "detectron2-metrics-json"])
def test_formats_that_print_no_batch_say_nothing(name: str) -> None:
    parser = new_parser(name)
    parser.feed("05-14 18:20:31 lr mode: step\n")
    assert parser.batch is None


def test_builtin_trainer_namespace_is_read() -> None:
    """The built-in trainer prints its args as torchvision's train.py does (world_size set, as
    init_distributed_mode sets it): the parser reads batch_size x world_size from it."""
    from bench.builtin.train import parse_args

    args = parse_args(["--data", "/data/coco", "--batch-size", "3"])
    args.world_size, args.distributed = 2, True  # what main() sets before print(args)
    parser = new_parser("torchvision")
    parser.feed(f"{args}\n")
    assert parser.batch is not None and parser.batch.images_per_iter == 6
    source = (ROOT / "bench" / "builtin" / "train.py").read_text()
    assert "args.world_size, args.distributed = world, world > 1\n    print(args, flush=True)" in source


# ---- bench parse ----------------------------------------------------------------------------------------
def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", "parse", *args], capture_output=True, text=True,
                          cwd=ROOT)


def h100_detectron2_current_log() -> tuple[Path, float]:
    for record_path in sorted((ROOT / "results" / "runs").glob("*detectron2-current*/record.json")):
        record = json.loads(record_path.read_text())
        timing = record["framework_timing"]
        if ("H100" in (record.get("gpu_model") or "")
                and abs((timing["throughput_img_s"] or 0) - 27.96) < 0.005):
            return record_path.parent / record["log_files"]["log"], timing["throughput_img_s"]
    pytest.skip("the committed H100 detectron2-current run is not in results/runs")


def test_committed_h100_log_gives_its_record_without_n() -> None:
    log, recorded = h100_detectron2_current_log()
    done = bench(str(log), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["images_per_iter"] == 2 and data["images_per_iter_source"].startswith("log line ")
    assert round(data["throughput_img_s"], 2) == round(recorded, 2) == 27.96
    human = bench(str(log))
    assert "28.0 img/s" in human.stdout  # three significant digits, as the table shows it


def test_log_value_wins_over_a_different_option_with_a_warning() -> None:
    log, recorded = h100_detectron2_current_log()
    done = bench(str(log), "--json", "-n", "16")
    assert done.returncode == 0
    assert abs(json.loads(done.stdout)["throughput_img_s"] - recorded) < 1e-9
    assert "differs" in done.stderr and "16" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_silent_log_without_n_is_one_line_exit_2(tmp_path: Path) -> None:
    log = write_log(tmp_path / "d2.txt", detectron2_lines(step_times()))
    done = bench(str(log), "-f", "detectron2")
    assert done.returncode == 2 and "--images-per-iter" in done.stderr and "Traceback" not in done.stderr
    with_n = bench(str(log), "-f", "detectron2", "-n", "4", "--json")
    data = json.loads(with_n.stdout)
    assert data["images_per_iter_source"] == "--images-per-iter option"
    assert (abs(data["throughput_img_s"] - expected_img_s(step_times(), 100, 500, 4))
            / data["throughput_img_s"] < 1e-3)


@pytest.mark.parametrize("n", ["0", "-200"])
def test_non_positive_n_is_refused(tmp_path: Path, n: str) -> None:
    log = write_log(tmp_path / "d2.txt", detectron2_lines(step_times()))
    done = bench(str(log), "-f", "detectron2", f"--images-per-iter={n}")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_record_pointing_at_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    log = write_log(tmp_path / "d2.txt", d2_head(8, 1, 16, None) + detectron2_lines(step_times()))
    target = tmp_path / "a-file"
    target.write_text("x")
    done = bench(str(log), "-f", "detectron2", "--record", str(target), "--gpus", "8")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "a-file" in done.stderr
