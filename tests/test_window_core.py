"""The window arithmetic on torchvision-format logs whose per-iteration times are chosen here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.vocabulary import ParseStatus
from bench.measure.assess import parse_file


def write_torchvision_log(path: Path, step_time: callable, iterations: int, length: int = 7329) -> None:
    """Print exactly what MetricLogger.log_every prints: at 0-based i with i % 20 == 0, the mean of the last
    20 iteration times."""
    times = [step_time(i) for i in range(iterations)]
    # train.py main prints its args after init_distributed_mode: 2 images per GPU x world size 8 = 16
    lines = ["| distributed init (rank 0): env://",
             "Namespace(data_path='/data/coco', dataset='coco', model='maskrcnn_resnet50_fpn', device='cuda', "
             "batch_size=2, epochs=26, workers=4, lr=0.02, print_freq=20, world_size=8, dist_url='env://', rank=0, "
             "gpu=0, distributed=True, dist_backend='nccl')",
             "Start training"]
    for i in range(iterations):
        if i % 20 == 0:
            window = times[max(0, i - 19): i + 1]
            mean = sum(window) / len(window)
            lines.append(f"Epoch: [0]  [{i:4d}/{length}]  eta: 0:44:12  lr: 0.002018  loss: 1.5234 (2.0123)  "
                         f"loss_mask: 0.6231 (0.7012)  time: {mean:.4f}  data: 0.0112  max mem: 4412")
    path.write_text("\n".join(lines) + "\n")


def test_torchvision_window_is_images_over_time(tmp_path: Path) -> None:
    log = tmp_path / "tv.log"
    write_torchvision_log(log, lambda i: 0.25 if i < 300 else 0.35, iterations=560)
    _, m = parse_file(log, "torchvision", 16, (100, 500))
    assert m.status is ParseStatus.OK
    # The grid ends at 1-based 101, 121, ..., 501: iterations 102..501, 0-based 101..500.
    expected_seconds = sum(0.25 if i < 300 else 0.35 for i in range(101, 501))
    assert (m.result.start, m.result.end) == (101, 501)
    assert abs(m.throughput_img_s - 6400 / expected_seconds) / (6400 / expected_seconds) < 1e-3


def test_window_not_reached_is_incomplete(tmp_path: Path) -> None:
    log = tmp_path / "short.log"
    write_torchvision_log(log, lambda i: 0.3, iterations=330)
    _, m = parse_file(log, "torchvision", 16, (100, 500))
    assert m.status is ParseStatus.INCOMPLETE
    assert m.last_iteration == 321
    assert "321" in m.reason


def test_cli_json(tmp_path: Path) -> None:
    log = tmp_path / "tv.log"
    write_torchvision_log(log, lambda i: 0.5, iterations=520)
    out = subprocess.run([sys.executable, "-m", "bench.cli", "parse", str(log), "--format", "auto", "--json"],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert data["status"] == "ok" and data["format"] == "torchvision"
    assert abs(data["throughput_img_s"] - 32.0) < 0.01
    assert data["window"] == [101, 501] and data["iterations"] == 400
