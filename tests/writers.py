"""Writers of the files tests feed bench: recipes (a stand-in trainer's, one carrying shell injections) and
logs (lines from parser_cases.py, a torchvision run, JSON documents). Each returns the path it wrote."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import trainer_standin
from parser_cases import torchvision_lines

STANDIN_TIMES = (0.02, 0.03)  # seconds of the stand-in's iteration i: STANDIN_TIMES[i % 2]


# -- logs ----------------------------------------------------------------------------------------------------
def write_log(path: Path, lines: list[str], newline: str = "\n", compress: bool = False,
              tail: str = "") -> Path:
    """The lines joined by `newline` (after the last one too), then `tail`; gzip-compressed if asked."""
    data = (newline.join(lines) + newline + tail).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_torchvision_log(path: Path, step_time: Callable[[int], float], iterations: int,
                          length: int = 7329) -> Path:
    """Exactly what torchvision's train.py prints on 8 GPUs, 2 images each: its distributed init and
    arguments, then MetricLogger.log_every's line at 0-based i with i % 20 == 0 (the mean of the last 20
    iteration times)."""
    header = ["| distributed init (rank 0): env://",
              "Namespace(data_path='/data/coco', dataset='coco', model='maskrcnn_resnet50_fpn', "
              "device='cuda', batch_size=2, epochs=26, workers=4, lr=0.02, print_freq=20, world_size=8, "
              "dist_url='env://', rank=0, gpu=0, distributed=True, dist_backend='nccl')"]
    return write_log(path, header + torchvision_lines([step_time(i) for i in range(iterations)], length))


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


# -- recipes -------------------------------------------------------------------------------------------------
def write_standin_recipe(directory: Path, fmt: str, *, window: tuple[int, int], args: str = "",
                         stream: str = "stdout", log_path: str | None = None,
                         times: tuple[float, ...] = STANDIN_TIMES, name: str = "standin",
                         more: str = "") -> Path:
    """directory/NAME.toml: a user-written recipe running tests/trainer_standin.py, which prints `fmt`
    ("detectron2-file": the detectron2 format to a file) at the pace `times`; `more` is TOML text appended."""
    log_format = "detectron2" if fmt == "detectron2-file" else fmt
    path = directory / f"{name}.toml"
    text = trainer_standin.recipe_text(log_format, window=window, stream=stream, log_path=log_path, name=name,
                                       args=f"--times {','.join(map(str, times))} {args}")
    path.write_text(text + more)
    return path


SHA = "0123456789abcdef0123456789abcdef01234567"
CANARY = "CANARY"
INJECT = f"$(touch {CANARY}) `touch {CANARY}` ; touch {CANARY} ' ; touch {CANARY} ; '\n touch {CANARY}\n"


def toml(value) -> str:
    return json.dumps(value)  # a JSON string or table of strings is also a TOML basic string / inline table


def write_injection_recipe(tmp_path: Path, **fields: str) -> Path:
    """tmp_path/demo.toml: a valid recipe whose free-text and path fields carry shell injections (and its diff
    patch, tmp_path/patches/NAME, whose name carries one too)."""
    patches = tmp_path / "patches"
    patches.mkdir(exist_ok=True)
    diff_name = fields.get("diff", f"it's $(touch {CANARY}).diff")
    (patches / diff_name).write_text("--- a/x\n+++ b/x\n")
    text = f"""
name = "demo"
title = {toml(fields.get("title", "demo" + INJECT.replace(chr(10), " ")))}
family = "demo"
variant = "published"
command = "{{python}} train.py --gpus {{gpus}} --data {{data}} --out {{output}}"
env = {{ GOOD = {toml(INJECT)} }}
prepare_run = ["ln -sfn {{data}} datasets/coco"]
[framework]
name = "PyTorch"
version = "1.5"
[source]
repo = "https://example.invalid/demo.git"
commit = "{SHA}"
token_env = "DEMO_TOKEN"
[[patches]]
kind = "diff"
file = {toml(diff_name)}
expected_blobs = {{ {toml("a b" + INJECT.replace(chr(10), ' '))} = "abcd1234" }}
[[patches]]
kind = "substitute"
pattern = {toml("x'" + INJECT.replace(chr(10), ''))}
replacement = {toml("`touch " + CANARY + "`")}
expected = {{ "*.py" = 1 }}
[log]
stream = "file"
path = {toml("train.log" + INJECT)}
format = "detectron2"
[stack]
python = "3.7"
framework = "PyTorch 1.5"
image = "ghcr.io/bench-images/demo:1"
"""
    path = tmp_path / "demo.toml"
    path.write_text(text)
    return path
