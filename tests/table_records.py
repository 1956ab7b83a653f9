"""Run records and recipes built in the tests, for the table, the plots and the record tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.vocabulary import RunStatus
from bench.records.schema import Provenance, RunRecord, Throughput
from bench.records.store import save_record

V100 = "Tesla V100-SXM2-16GB"
PUBLISHED_SOURCE = "https://github.com/facebookresearch/detectron2/blob/main/docs/notes/benchmarks.md"
PUBLISHED = {  # name: (title, family, img/s)
    "detectron2": ("Detectron2", "detectron2", 62),
    "mmdetection": ("mmdetection", "mmdetection", 53),
    "maskrcnn-benchmark": ("maskrcnn-benchmark", "maskrcnn-benchmark", 53),
    "tensorpack": ("tensorpack", "tensorpack", 50),
}
REPO = "https://github.com/example/{name}.git"


def make_record(runs: Path, run_id: str, name: str, img_s: float | None, *, created: str, gpus: int = 8,
                gpu_model: str | None = V100, protocol: int | None = 1, comparable: bool = True,
                preset: str | None = None, repeat_group: str | None = None, deviations: tuple[str, ...] = (),
                status: RunStatus = RunStatus.OK, family: str | None = None, variant: str = "published",
                series: list[list[float]] | None = None, reason: str = "", dataset: dict | None = None,
                environment: dict | None = None) -> RunRecord:
    title, fam, _ = PUBLISHED.get(name, (name, name, 0))
    seconds = 6400 / img_s if img_s else None
    record = RunRecord(
        run_id=run_id, created=created, implementation=name, family=family or fam, variant=variant,
        title=title, framework=f"{fam} 1.0", preset=preset, comparable=comparable, status=status,
        reason=reason, gpus=gpus, gpu_model=gpu_model, images_per_iter=2 * max(gpus, 1),
        window_requested=[100, 500],
        log_format="torchvision",
        framework_timing=Throughput(throughput_img_s=img_s, window=[100, 500] if img_s else None,
                                    iterations=400 if img_s else None, seconds=seconds),
        last_iteration=500 if img_s else 250, series=series or [], deviations=list(deviations),
        provenance=Provenance(recipe=name, recipe_path=f"recipes/{name}.toml", recipe_sha256="0" * 64,
                              repo=REPO.format(name=name), commit=hashlib.sha1(name.encode()).hexdigest(),
                              protocol_version=protocol, bench_version="0.1.0"),
        reference=None, repeat_group=repeat_group, environment=environment or {},
        dataset=dataset or {"path": "/data/coco", "synthetic": False})
    save_record(record, runs / run_id)
    return record


def write_recipes(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (title, family, img_s) in PUBLISHED.items():
        (directory / f"{name}.toml").write_text(f'''
name = "{name}"
title = "{title}"
family = "{family}"
variant = "published"
command = "python train.py --gpus {{gpus}}"
framework = {{ name = "{family}", version = "1.0" }}
source = {{ repo = "{REPO.format(name=name)}", commit = "{'b' * 40}" }}
log = {{ format = "torchvision" }}
stack = {{ python = "3.8", framework = "torch 1.5", image = "example/{name}:1" }}
reference = {{ img_s = {img_s}, gpus = 8, gpu_model = "V100", source = "{PUBLISHED_SOURCE}" }}
''', encoding="utf-8")


COMMITTED_RUNS = Path(__file__).resolve().parents[1] / "results" / "runs"


def committed_deviations(run_id: str) -> list[str]:
    """The deviation strings of a committed record, as a real run wrote them."""
    import json

    return json.loads((COMMITTED_RUNS / run_id / "record.json").read_text(encoding="utf-8"))["deviations"]


def inline_links(text: str) -> str:
    """The markdown with every reference-style link ([text][r3] + "[r3]: target") written inline."""
    import re

    targets = dict(re.findall(r"^\[([a-z]+\d+)\]: (.*)$", text, re.M))
    return re.sub(r"\]\[([a-z]+\d+)\]", lambda m: f"]({targets[m[1]]})", text)


def rendered_pages(records, recipes, out_dir: Path) -> dict[str, str]:
    """Each page `bench table` would write into `out_dir` (README.md and those beside it), by file name."""
    from bench.report.pages import render_pages

    return {path.name: text for path, text in render_pages(records, recipes, out_dir / "README.md").items()}


def runs_page(records, recipes, out_dir: Path) -> str:
    """The all-runs page (every row, per section and hardware); empty when there is none."""
    return rendered_pages(records, recipes, out_dir).get("all-runs.md", "")


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown table in `text`, each as a list of rows (dicts by header)."""
    tables = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line.startswith("|")]
        if lines:
            cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines]
            tables.append([dict(zip(cells[0], row)) for row in cells[2:]])
    return tables
