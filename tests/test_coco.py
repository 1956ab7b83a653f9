"""`bench data stats` and `bench eval` on small COCO files built here: -1.000 explained, suggested ranges,
COCOeval's inclusive boundaries, perfect detections, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import cli
from bench.coco.evaluate import evaluate, format_block
from bench.coco.stats import dataset_stats, format_stats
from bench.errors import BenchError
from coco_cases import LARGE_SIZES, box_annotation, make_gt, perfect_detections
from writers import write_json

@pytest.fixture
def large_only(tmp_path: Path) -> tuple[Path, Path]:
    gt = make_gt(LARGE_SIZES)
    return write_json(tmp_path / "gt.json", gt), write_json(tmp_path / "dt.json", perfect_detections(gt))


# -- bench data stats -----------------------------------------------------------------------------------
def test_stats_of_large_only_dataset_names_the_empty_buckets(large_only) -> None:
    s = dataset_stats(large_only[0])
    assert (s["images"], s["annotations"], s["categories"]) == (3, 15, 2)
    assert ([(b["label"], b["count"]) for b in s["coco_buckets"]]
            == [("small", 0), ("medium", 0), ("large", 15)])
    assert s["empty_buckets"] == ["small", "medium"]
    assert s["explanations"] == [
        "AP/AR for 'small' will print -1.000: no ground-truth object has area <= 1024",
        "AP/AR for 'medium' will print -1.000: no ground-truth object has 1024 <= area <= 9216"]
    assert s["area"]["percentiles"]["0"] == min(w * h for w, h in LARGE_SIZES)
    text = format_stats(s)
    assert "cocoEval.params.areaRng = [[0, 1e10], " in text and "NOT comparable" in text


def test_suggested_ranges_leave_no_bucket_empty(large_only) -> None:
    s = dataset_stats(large_only[0])
    small, medium, large = s["suggested_area_rng"][1:]
    assert s["suggested_area_rng"][0] == [0, 1e10] and small[1] == medium[0] and medium[1] == large[0]
    assert s["suggested_counts"] == {"all": 15, "small": 6, "medium": 3, "large": 6}  # 5 distinct areas x 3
    # the printed line is valid Python that gives the same list
    literal = s["suggested_python"].split(" = ", 1)[1]
    assert eval(literal) == s["suggested_area_rng"]  # noqa: S307 - our own output


@pytest.mark.parametrize("areas", [[5000.0], [5000.0, 5000.0, 7000.0], list(range(1, 100)),
                                   [1.0] * 50 + [2.0] + [3.0] * 50, [10.5, 10.6, 10.7, 99999.0]])
def test_suggestion_never_empty_even_with_ties(areas) -> None:
    import numpy as np

    from bench.coco.ranges import counts, suggest

    ranges = suggest(np.array(areas))
    assert all(counts(np.array(areas), ranges).values()), ranges


def test_crowd_annotations_are_counted_but_left_out_of_the_buckets(tmp_path: Path) -> None:
    gt = make_gt(LARGE_SIZES[:2], images=1)
    gt["annotations"].append(box_annotation(99, 1, 1, 0, 0, 10, 10, iscrowd=1))  # a small crowd region
    s = dataset_stats(write_json(tmp_path / "gt.json", gt))
    assert (s["annotations"], s["crowd_annotations"], s["area"]["counted"]) == (3, 1, 2)
    assert s["empty_buckets"] == ["small", "medium"]  # the crowd region does not fill 'small'


def test_stats_plot_writes_a_png(large_only, tmp_path: Path) -> None:
    out = tmp_path / "areas.png"
    result = CliRunner().invoke(cli, ["data", "stats", str(large_only[0]), "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "histogram written to" in result.output


# -- bench eval -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_large_only_reproduces_minus_one_for_small_and_medium(large_only, iou_type: str) -> None:
    block = evaluate(*large_only, iou_type=iou_type)
    values = block["values"]
    assert values["AP"] == pytest.approx(1.0) and values["AP_large"] == pytest.approx(1.0)
    for name in ("AP_small", "AP_medium", "AR_small", "AR_medium"):
        assert values[name] is None
        assert block["null_reasons"][name] == "COCOeval printed -1.000: no ground truth in this area range"
    text = format_block(block)
    assert "area= small [0, 1024]    | maxDets=100 ] = n/a (no ground truth in this area range)" in text
    assert "AP/AR for 'small' prints -1.000: no ground-truth object has area <= 1024" in text
    assert "-1.000 " not in text.replace("prints -1.000", "")


def test_raw_pycocotools_prints_minus_one_where_we_print_na(large_only, capsys) -> None:
    """The same files through plain COCOeval: the -1.000 we explain is really there."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(large_only[0]))
    evaluator = COCOeval(gt, gt.loadRes(str(large_only[1])), "bbox")
    evaluator.evaluate(), evaluator.accumulate(), evaluator.summarize()
    out = capsys.readouterr().out
    assert "area= small | maxDets=100 ] = -1.000" in out and "area=medium | maxDets=100 ] = -1.000" in out
    assert list(evaluator.stats[[3, 4, 9, 10]]) == [-1, -1, -1, -1]


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_perfect_detections_give_ap_one(tmp_path: Path, iou_type: str) -> None:
    gt = make_gt([(20, 20), (60, 50), (150, 120)])  # one object per COCO bucket
    block = evaluate(write_json(tmp_path / "gt.json", gt),
                     write_json(tmp_path / "dt.json", perfect_detections(gt)), iou_type=iou_type)
    for name in ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR_100"):
        assert block["values"][name] == pytest.approx(1.0), name
    assert block["null_reasons"] == {}


def test_auto_ranges_give_every_bucket_a_number(large_only) -> None:
    block = evaluate(*large_only, area_rng="auto")
    assert block["null_reasons"] == {}
    assert block["values"]["AP_small"] == block["values"]["AP_medium"] == pytest.approx(1.0)
    assert "NOT comparable" in format_block(block)
    assert all(block["ground_truth_per_range"].values())


def test_area_exactly_1024_counts_as_small_and_medium(tmp_path: Path) -> None:
    """COCOeval keeps a ground truth in a range when lo <= area <= hi: 32x32 is in both 'small' and
    'medium'."""
    gt = make_gt([(32, 32)], images=2)
    s = dataset_stats(write_json(tmp_path / "gt.json", gt))
    assert [b["count"] for b in s["coco_buckets"]] == [2, 2, 0] and s["on_boundary"] == 2
    block = evaluate(tmp_path / "gt.json", write_json(tmp_path / "dt.json", perfect_detections(gt)))
    assert block["values"]["AP_small"] == pytest.approx(1.0)
    assert block["values"]["AP_medium"] == pytest.approx(1.0)
    assert block["values"]["AP_large"] is None


def test_custom_ranges_and_json(large_only) -> None:
    result = CliRunner().invoke(cli, ["eval", *map(str, large_only), "--area-rng", "0,15000,50000", "--json"])
    assert result.exit_code == 0, result.output
    block = json.loads(result.output)
    assert block["area_ranges"]["small"] == [0, 15000] and block["area_ranges"]["large"] == [50000, 1e10]
    assert block["ground_truth_per_range"] == {"all": 15, "small": 6, "medium": 9, "large": 0}
    assert block["values"]["AP_large"] is None and block["values"]["AP_small"] == pytest.approx(1.0)


# -- bad input --------------------------------------------------------------------------------------------
def test_not_coco_json_names_the_file_and_the_key(tmp_path: Path, large_only) -> None:
    bad = write_json(tmp_path / "bad.json", {"images": [], "annotations": []})
    with pytest.raises(BenchError, match=r"bad\.json: not a COCO annotation file: no 'categories' key"):
        dataset_stats(bad)
    (tmp_path / "text.json").write_text("hello")
    with pytest.raises(BenchError, match=r"text\.json: not a COCO JSON file \(Expecting value at line 1\)"):
        evaluate(tmp_path / "text.json", large_only[1])
    gt = make_gt(LARGE_SIZES[:1], images=1)
    del gt["annotations"][0]["area"]
    with pytest.raises(BenchError, match=r"gt\.json: annotations\[0\] \(id 1\) has no 'area'"):
        dataset_stats(write_json(tmp_path / "gt.json", gt))


def test_detection_with_unknown_image_or_category(tmp_path: Path, large_only) -> None:
    gt_path, dt_path = large_only
    detections = json.loads(dt_path.read_text())
    detections[4]["image_id"] = 777
    with pytest.raises(BenchError, match=r"dt2\.json: detection 4 references image_id 777, which is not "
                                         r"among the images of .*gt\.json"):
        evaluate(gt_path, write_json(tmp_path / "dt2.json", detections))
    detections[4]["image_id"], detections[2]["category_id"] = 1, 9
    with pytest.raises(BenchError, match=r"detection 2 references category_id 9"):
        evaluate(gt_path, write_json(tmp_path / "dt2.json", detections))
    del detections[0]["segmentation"]
    detections[2]["category_id"] = 1
    with pytest.raises(BenchError, match=r"detection 0 has no 'segmentation'"):
        evaluate(gt_path, write_json(tmp_path / "dt2.json", detections), iou_type="segm")


def test_empty_detection_list_is_one_line_on_stderr(tmp_path: Path, large_only) -> None:
    empty = write_json(tmp_path / "empty.json", [])
    with pytest.raises(BenchError, match=r"empty\.json: the detection list is empty: nothing to evaluate"):
        evaluate(large_only[0], empty)
    done = subprocess.run([sys.executable, "-m", "bench.cli", "eval", str(large_only[0]), str(empty)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"bench: error: {empty}: the detection list is empty: "
                                                "nothing to evaluate"]


def test_bad_options(large_only) -> None:
    with pytest.raises(BenchError, match=r"--iou-type 'keypoints'"):
        evaluate(*large_only, iou_type="keypoints")
    with pytest.raises(BenchError, match=r"--area-rng '1024,9216': expected coco, auto or A,B,C"):
        evaluate(*large_only, area_rng="1024,9216")
