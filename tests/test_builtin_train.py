"""The built-in trainer: a few real Mask R-CNN iterations on CPU on a tiny synthetic dataset, whose log the
torchvision parser measures (status ok), and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torchvision")
pytest.importorskip("pycocotools")

from bench.builtin.synth import synth_dataset  # noqa: E402
from bench.vocabulary import ParseStatus  # noqa: E402
from bench.measure.assess import parse_file  # noqa: E402

TINY = ["--device", "cpu", "--min-size", "64", "--max-size", "96", "--roi-batch-size", "32",
        "--rpn-post-nms-top-n", "100", "--workers", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return synth_dataset(tmp_path_factory.mktemp("tiny") / "ds", images=8, width=96, height=96, seed=0)


@pytest.fixture
def train():
    """Start the trainer in its own session; whatever a test asserts, its process group is gone afterwards."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], log: Path) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "bench.builtin.train", *args], stdout=log.open("w"),
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def test_a_few_real_iterations_parse_ok(tiny_data: Path, tmp_path: Path, train) -> None:
    log = tmp_path / "train.log"
    proc = train(["--data", str(tiny_data), "--output", str(tmp_path / "out"), "--iterations", "12",
                   "--print-freq", "5", *TINY], log)
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "Start training" in text and "deviation: random initialisation" in text
    assert "Epoch: [0]  [ 0/12]  eta:" in text and "Epoch: [0]  [11/12]" in text
    assert (tmp_path / "out" / "builtin-config.json").is_file()
    # Printed every 5 iterations, each line the mean of the last 20: overlapping spans the window walks
    # through.
    parser, m = parse_file(log, "torchvision", images_per_iter=2, window=(1, 11))
    assert [r.iteration for r in parser.records] == [1, 6, 11, 12]
    assert m.status is ParseStatus.OK, m.reason
    assert m.result.start == 1 and m.result.end == 11 and m.throughput_img_s > 0
    assert set(parser.records[-1].losses) >= {"loss", "loss_classifier", "loss_box_reg", "loss_mask",
                                              "loss_objectness", "loss_rpn_box_reg"}


def test_sigterm_stops_cleanly(tiny_data: Path, tmp_path: Path, train) -> None:
    log = tmp_path / "train.log"
    proc = train(["--data", str(tiny_data), "--print-freq", "1", *TINY], log)
    deadline = time.monotonic() + 240
    while not re.search(r"Epoch: \[0\]  \[ *1/", log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)  # what the harness does: the whole process group, workers included
    assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "stopped cleanly (received SIGTERM)" in text and "Traceback" not in text


def test_builtin_recipe_and_presets_validate() -> None:
    from bench.paths import recipes_dir
    from bench.recipes.loader import load_recipe

    recipe = load_recipe(recipes_dir() / "builtin.toml")
    assert recipe.variant == "builtin" and recipe.source is None and recipe.log.format == "torchvision"
    smoke, full = recipe.presets["smoke"], recipe.presets["full"]
    assert not smoke.comparable and smoke.gpus == 0 and smoke.synthetic_data
    assert full.comparable and (full.window.start, full.window.end) == (100, 500)
    assert recipe.with_preset("smoke").images_for(max(smoke.gpus, 1)) == 2
