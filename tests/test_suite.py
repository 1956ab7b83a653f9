"""The current suite: interleaved runs, the ranked section's statistics, and `bench check NAME --preset P`."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.cli.check import check_preset
from bench.protocol.suite import load_suite
from bench.recipes.loader import find_recipe
from bench.measure.stats import mann_whitney_two_sided as mann_whitney_p
from bench.numbers import sig3
from bench.report.suite_runs import ratio_with_error
from table_records import markdown_tables, rendered_pages
from writers import write_standin_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_mann_whitney_exact_p_by_hand():
    # 3 vs 3, completely separated: 2 of the 20 splits are as extreme (both directions): p = 0.1
    assert mann_whitney_p([5.0, 6.0, 7.0], [1.0, 2.0, 3.0]) == pytest.approx(0.1)
    # interleaved 1 < 2 < 3 < 4 < 5 < 6 as a = {1, 4, 5}, b = {2, 3, 6}:
    # U = 4.5 = n*m/2, nothing is more central
    assert mann_whitney_p([1.0, 4.0, 5.0], [2.0, 3.0, 6.0]) == pytest.approx(1.0)


def test_ratio_and_its_error_by_hand():
    a, b = [2.0, 2.2, 2.4], [1.0, 1.1, 1.2]
    ratio, err = ratio_with_error(a, b)
    assert ratio == pytest.approx(2.2 / 1.1)
    rel = ((0.2 / 2.2) ** 2 / 3 + (0.1 / 1.1) ** 2 / 3) ** 0.5  # stdev 0.2 and 0.1 by hand
    assert err == pytest.approx(2.0 * rel)


@pytest.mark.parametrize("member", load_suite("current").members)
def test_every_member_has_the_suite_presets(member):
    assert set(load_suite("current").presets) <= set(find_recipe(member).presets)


@pytest.mark.parametrize("member", ["detectron2-current", "mmdetection-current", "builtin"])
def test_smoke_presets_agree_beyond_the_implementation(member):
    """Under smoke, every setting the suite compares is declared, and what differs is only inherent (backbone
    style, warm-up at learning rate 0, AR grouping on single-size data)."""
    recipe = find_recipe(member)
    result = check_preset(recipe, ROOT / "recipes" / f"{member}.toml", "smoke", "current")
    assert result.errors == []
    assert {d.setting for d in result.deviations} <= {"backbone_style", "warmup_iters", "warmup_start_factor"}


def test_check_preset_on_main_finds_undeclared_open_settings(tmp_path):
    text = (ROOT / "recipes" / "detectron2-current.toml").read_text()
    text = text.split("[presets.smoke.protocol]")[0]
    (tmp_path / "detectron2-current.toml").write_text(text)
    from bench.recipes.loader import load_recipe

    result = check_preset(load_recipe(tmp_path / "detectron2-current.toml"), tmp_path / "x.toml", "smoke",
                          "current")
    assert any("does not declare workers" in e for e in result.errors)
    assert any("INPUT.MIN_SIZE_TRAIN (320,)" in e for e in result.errors)


def test_unknown_suite_preset_is_one_line():
    with pytest.raises(BenchError, match="has no preset 'nope'"):
        load_suite("current").protocol_for("nope")


@pytest.mark.parametrize("member", ["detectron2-current", "mmdetection-current", "torchvision", "builtin"])
@pytest.mark.parametrize("preset", ["smoke", "full", "full-amp"])
def test_members_differ_only_in_what_is_inherent(member, preset):
    """Issue 24 item 5: every difference left is the implementation itself, declared with why."""
    recipe = find_recipe(member)
    result = check_preset(recipe, ROOT / "recipes" / f"{member}.toml", preset, "current")
    assert result.errors == []
    inherent = load_suite("current").inherent.get(member, {})
    assert {d.setting for d in result.deviations} == set(inherent)
    assert all(d.inherent == inherent[d.setting] for d in result.deviations)


@pytest.mark.slow  # imports torch and builds a ResNet-50 Mask R-CNN: seconds, too many for the fast tier
def test_the_torchvision_wrapper_builds_the_suites_model(monkeypatch):
    """patches/torchvision/train_suite.py: the references' model name builds FrozenBN with stem and layer1
    frozen, the preset's sizes and 1000 proposals per image after NMS, from random weights."""
    import importlib.util

    import torchvision
    import torchvision.models.detection
    from torchvision.ops.misc import FrozenBatchNorm2d

    monkeypatch.setattr(torchvision.models, "get_model", torchvision.models.get_model)
    monkeypatch.setattr(torchvision.models.detection, "maskrcnn_resnet50_fpn",
                        torchvision.models.detection.maskrcnn_resnet50_fpn)
    spec = importlib.util.spec_from_file_location("train_suite", ROOT / "patches/torchvision/train_suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    settings, rest = module.split_arguments(["--min-size", "320", "--data-path", "D", "--max-size", "533",
                                             "--rpn-post-nms-top-n", "1000", "-b", "2"])
    assert rest == ["--data-path", "D", "-b", "2"]
    module.install(settings)
    model = torchvision.models.get_model("maskrcnn_resnet50_fpn", weights=None, weights_backbone=None,
                                         num_classes=7, trainable_backbone_layers=None)
    body = model.backbone.body
    assert isinstance(body.bn1, FrozenBatchNorm2d) and isinstance(body.layer3[0].bn2, FrozenBatchNorm2d)
    assert not any(p.requires_grad for p in body.layer1.parameters())
    assert all(p.requires_grad for p in body.layer2.parameters())
    assert model.transform.min_size == (320,) and model.transform.max_size == 533
    assert model.rpn._post_nms_top_n["training"] == 1000
    # older train.py versions index the module: the same builder is there
    builder = torchvision.models.detection.__dict__["maskrcnn_resnet50_fpn"]
    assert builder.__qualname__ == "install.<locals>.build"
    with pytest.raises(SystemExit):
        module.split_arguments(["--min-size", "320"])


def test_suite_run_interleaves_members_and_the_section_ranks_them(bench_env):
    """Two members as stand-in trainers (detectron2-current 25 ms per iteration on average, builtin 45 ms):
    records come A B A B, share the suite id, and the section ranks them by the median computed by hand."""
    from bench.pipeline.run import RunOptions
    from bench.pipeline.suite import run_suite
    from bench.launch.watch import StopRequest
    from bench.records.store import load_records

    recipes = bench_env.use_recipes()
    recipes.mkdir()
    times = {"detectron2-current": (0.02, 0.03), "builtin": (0.04, 0.05)}
    for name, pace in times.items():
        write_standin_recipe(recipes, "torchvision", window=(10, 20), times=pace, name=name,
                             more='[presets.smoke]\ndescription = "stand-in"\ncomparable = false\n')
    records = run_suite("current", RunOptions(progress=False), 2, StopRequest(),
                        only=["builtin", "detectron2-current"], say=lambda _: None)
    assert [r.implementation for r in records] == ["detectron2-current", "builtin"] * 2
    suites = [r.extra["suite"] for r in records]
    assert len({s["id"] for s in suites}) == 1 and [s["round"] for s in suites] == [1, 1, 2, 2]
    assert records[0].repeat_group == records[2].repeat_group != records[1].repeat_group

    # the stand-in's schedule: 10 iterations alternate the two times, 2 images each (window 10:20)
    for record in records:
        a, b = times[record.implementation]
        assert record.framework_timing.throughput_img_s == pytest.approx(20 / (5 * a + 5 * b), rel=0.05)
    readme = rendered_pages(load_records(bench_env.runs), [], bench_env.root)["README.md"]
    ranking, telemetry = markdown_tables(readme)[:2]  # the results page leads with this ranking
    assert [row["implementation"] for row in ranking] == ["detectron2-current", "builtin"]
    d2 = statistics.median(r.framework_timing.throughput_img_s for r in records[::2])
    assert ranking[0]["median img/s"] == sig3(d2) and ranking[0]["rank"] == "1"
    assert ranking[0]["vs next"] == "≈ (p = 0.33)"  # 2 vs 2 completely separated: 2 of 6 splits as extreme
    # the members ran with telemetry: what the hardware did, member by member (no GPU here: no img/J)
    assert "differs from detectron2-current" in telemetry[0].keys()
    assert [(row["implementation"], row["img/J"]) for row in telemetry] == [("builtin", "-"),
                                                                         ("detectron2-current", "-")]
