"""Comparability is decided when the table is made, from the record's facts, whatever flag the record stored;
old records are migrated on read; the Framework column shows what the run's environment recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.records.store import load_record, load_records
from table_records import inline_links, make_record, runs_page, write_recipes

RANKED = ("## Protocol 1", "## Protocol version not recorded")


def ranked_part(text: str) -> str:
    end = text.find("## Not comparable")
    return text[:end if end >= 0 else len(text)]


def table(runs: Path, recipes_dir: Path) -> str:
    from bench.recipes.loader import load_all

    return inline_links(runs_page(load_records(runs), load_all(recipes_dir), runs.parent))


@pytest.mark.parametrize("facts,why", [
    (dict(dataset={"path": "/cache/synth", "synthetic": True}), "synthetic data"),
    (dict(dataset=None), "dataset not recorded"),
    (dict(gpus=1), "1 GPUs (protocol 8)"),
    (dict(preset="smoke"), "preset smoke unknown"),
])
def test_a_stored_comparable_flag_never_ranks_a_record_whose_facts_say_otherwise(tmp_path, facts,
                                                                                  why) -> None:
    write_recipes(tmp_path / "recipes")
    runs = tmp_path / "results" / "runs"
    make_record(runs, "ok", "detectron2", 62.0, created="2026-01-01T00:00:00+00:00")
    record = make_record(runs, "suspect", "mmdetection", 99.0, created="2026-01-02T00:00:00+00:00",
                         comparable=True)
    if "dataset" in facts:  # make_record fills a real dataset in when given None
        data = json.loads((runs / "suspect" / "record.json").read_text())
        data["dataset"] = facts["dataset"]
        (runs / "suspect" / "record.json").write_text(json.dumps(data))
    else:
        make_record(runs, "suspect", "mmdetection", 99.0, created="2026-01-02T00:00:00+00:00",
                    comparable=True, **facts)
    assert record.comparable
    text = table(runs, tmp_path / "recipes")
    assert "runs/suspect/record.json" not in ranked_part(text)
    assert "runs/ok/record.json" in ranked_part(text)
    assert "runs/suspect/record.json" in text and why in text


def test_the_committed_kind_of_v1_record_is_not_ranked(tmp_path) -> None:
    """results/README.md ranked this record #1 under Protocol 1: a v1 record of a 1-GPU built-in run on
    synthetic data (which v1 did not record), stored with comparable = true."""
    runs = tmp_path / "runs"
    make_record(runs, "builtin-full", "builtin", 19.9, created="2026-01-01T00:00:00+00:00", gpus=1,
                preset="full", family="builtin", variant="builtin")
    path = runs / "builtin-full" / "record.json"
    data = json.loads(path.read_text())
    data.update(schema_version=1, comparable=True)
    del data["dataset"], data["images_per_iter_source"]
    path.write_text(json.dumps(data))
    from bench.recipes.loader import find_recipe
    from bench.paths import recipes_dir

    text = runs_page(load_records(runs), [find_recipe("builtin", recipes_dir())], tmp_path)
    assert not any(heading in text for heading in RANKED)
    assert "dataset not recorded" in text and "1 GPUs (protocol 8)" in text


def test_v1_records_are_migrated_and_unknown_versions_refused(tmp_path) -> None:
    make_record(tmp_path, "r", "detectron2", 62.0, created="2026-01-01T00:00:00+00:00")
    path = tmp_path / "r" / "record.json"
    data = json.loads(path.read_text())
    del data["images_per_iter_source"]
    path.write_text(json.dumps({**data, "schema_version": 1}))
    record = load_record(path)
    assert record.schema_version == 3 and record.images_per_iter_source is None
    path.write_text(json.dumps({**data, "schema_version": 4}))
    with pytest.raises(BenchError) as caught:
        load_record(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: schema_version 4 ") and "\n" not in message


def test_framework_column_shows_the_recorded_environment(tmp_path) -> None:
    write_recipes(tmp_path / "recipes")
    runs = tmp_path / "results" / "runs"
    make_record(runs, "d2", "detectron2", 62.0, created="2026-01-01T00:00:00+00:00")
    path = runs / "d2" / "record.json"
    data = json.loads(path.read_text())
    data["environment"] = {"frameworks": {"torch": "2.9.1", "torchvision": "0.24.1", "detectron2": "0.6"}}
    path.write_text(json.dumps(data))
    text = table(runs, tmp_path / "recipes")
    settings = next(line for line in text.splitlines() if "**Stack:**" in line)
    # the record's text is a claim
    assert "**Stack:** torch 2.9.1" in settings and "detectron2 1.0" not in settings
