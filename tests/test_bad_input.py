"""Bad input (issue 13): every case is run as the console script runs it and must end with ONE line naming the
file and the field or line on stderr, exit status 2, and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import app
from bench_roots import BenchEnv
from bench_runs import invoke
from coco_cases import box_annotation, make_gt, perfect_detections
from writers import write_injection_recipe, write_json


def bench_fails(args: list[str], *expected: str) -> str:
    """Run `bench ARGS`; assert exit status 2 and one line on stderr containing each of `expected`."""
    code, _, err = invoke(app, [str(a) for a in args])
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# -- recipes -------------------------------------------------------------------------------------------------
@pytest.fixture
def recipe(tmp_path: Path, bench_env: BenchEnv) -> Path:
    bench_env.use_patches()
    return write_injection_recipe(tmp_path)


@pytest.mark.parametrize("old, new, field", [
    ('pattern = ', 'pattern = "(unclosed" #', "patches.1.substitute.pattern"),
    ('replacement = ', 'replacement = "\\\\9" #', "patches.1.substitute"),
    ("env = { GOOD", 'env = { "A=B" = "1", GOOD', "env"),
])
def test_bad_recipe_field(recipe: Path, old: str, new: str, field: str) -> None:
    recipe.write_text(recipe.read_text().replace(old, new, 1))
    bench_fails(["run", "--recipe", recipe, "--dry-run"], str(recipe), f"field '{field}'")


def test_recipe_not_utf8(recipe: Path) -> None:
    recipe.write_bytes(recipe.read_bytes().replace(b'family = "demo"', b'family = "d\xe9mo"'))
    bench_fails(["run", "--recipe", recipe, "--dry-run"], str(recipe), "line 4", "not UTF-8")


@pytest.mark.parametrize("text", ["a = " + "[" * 5000 + "]" * 5000,
                                  "a = " + "{b = " * 3000 + "1" + "}" * 3000])
def test_recipe_nested_too_deeply(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(text)
    bench_fails(["run", "--recipe", path, "--dry-run"], str(path), "nested too deeply")


def test_directory_as_recipe(tmp_path: Path) -> None:
    bench_fails(["run", "--recipe", tmp_path, "--dry-run"], str(tmp_path), "is a directory")


def test_recipe_name_that_is_a_path(tmp_path: Path) -> None:
    bench_fails(["plan", "../recipes/detectron2"], "no recipe named")


# -- records -------------------------------------------------------------------------------------------------
def a_record() -> dict:
    return json.loads(sorted(Path("results/runs").glob("*/record.json"))[0].read_text())


@pytest.mark.parametrize("content, expected", [
    (b'{"run_id": "caf\xe9"}', "not UTF-8"),
    (b"[" * 100000, "record.json"),
    (b"", "Invalid JSON"),
])
def test_bad_record_in_bench_table(tmp_path: Path, content: bytes, expected: str) -> None:
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "record.json").write_bytes(content)
    bench_skips(["table", "--runs", tmp_path / "runs", "--out", tmp_path / "README.md"],
                str(run / "record.json"), expected)
    assert (tmp_path / "README.md").is_file()  # the rest (here: nothing) rendered


def bench_skips(args: list[str], *expected: str) -> str:
    """Run `bench ARGS`; assert exit status 0, one warning line naming the skipped record (containing each of
    `expected`) and the count, no traceback."""
    code, _, err = invoke(app, [str(a) for a in args])
    lines = [line for line in err.strip().splitlines() if line.startswith("warning: ")]
    assert code == 0 and "Traceback" not in err, err
    assert len(lines) == 2 and lines[0].startswith("warning: skipped "), err
    assert "1 record(s) skipped" in lines[1], err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_record_field_of_the_wrong_type(tmp_path: Path) -> None:
    record = a_record()
    record["framework_timing"]["throughput_img_s"] = {"no": "number"}
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "record.json").write_text(json.dumps(record))
    bench_skips(["table", "--runs", tmp_path / "runs", "--out", tmp_path / "README.md"],
                "field 'framework_timing.throughput_img_s'")


# -- options naming the wrong kind of path ------------------------------------------------------------------
def test_out_naming_a_directory(tmp_path: Path) -> None:
    bench_fails(["table", "--out", tmp_path], "--out", "is a directory")
    assert not (tmp_path / "throughput.png").exists()


def test_synth_out_naming_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("mine")
    bench_fails(["data", "synth", tmp_path / "afile", "-n", "1"], "afile", "is not a directory")


def test_synth_never_replaces_a_dataset_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "train2017").mkdir()
    (tmp_path / "train2017" / "000000000001.jpg").write_bytes(b"a real image")
    bench_fails(["data", "synth", tmp_path, "-n", "1"], "not a bench synthetic dataset")
    assert (tmp_path / "train2017" / "000000000001.jpg").read_bytes() == b"a real image"


def test_stats_plot_naming_a_directory(tmp_path: Path) -> None:
    gt = write_json(tmp_path / "gt.json", make_gt([(100, 100)]))
    bench_fails(["data", "stats", gt, "--plot", tmp_path], "--plot", "is a directory")


# -- COCO files ----------------------------------------------------------------------------------------------
def coco_pair(tmp_path: Path, gt_edit=None, dt_edit=None, raw: str | None = None) -> tuple[Path, Path]:
    gt = make_gt([(100, 100), (200, 150)])
    dt = perfect_detections(gt)
    if gt_edit:
        gt_edit(gt)
    if dt_edit:
        dt_edit(dt)
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(raw if raw is not None else json.dumps(gt))
    return gt_path, write_json(tmp_path / "dt.json", dt)


def ann(index: int, key: str, value):
    return lambda gt: gt["annotations"][index].__setitem__(key, value)


GT_CASES = {
    "NaN area": (ann(0, "area", float("nan")),
                 "annotations[0] (id 1) has a non-numeric or non-finite 'area'"),
    "infinite area": (ann(1, "area", 1e999), "annotations[1] (id 2) has a non-numeric or non-finite 'area'"),
    "negative area": (ann(0, "area", -5.0), "annotations[0] (id 1) has a negative 'area'"),
    "negative box": (ann(0, "bbox", [1, 2, -3, 4]),
                     "annotations[0] (id 1) has a negative 'bbox width/height'"),
    "NaN box": (ann(0, "bbox", [1, float("nan"), 3, 4]), "non-finite 'bbox'"),
    "box of 3": (ann(0, "bbox", [1, 2, 3]), "expected [x, y, width, height]"),
    "unhashable id": (ann(0, "id", [1]), "annotations[0] has 'id' [1] (list)"),
    "unhashable image id": (ann(0, "image_id", {"a": 1}), "has 'image_id' {'a': 1} (dict)"),
    "duplicate annotation id": (ann(1, "id", 1), "annotations[1] repeats id 1 of annotations[0]"),
    "duplicate image id": (lambda gt: gt["images"][1].__setitem__("id", 1),
                           "images[1] repeats id 1 of images[0]"),
    "annotation of an unknown image": (ann(0, "image_id", 99), "image_id 99, which is not among the images"),
    "annotation of an unknown category": (ann(0, "category_id", 7), "category_id 7, which is not among"),
    "iscrowd of 2": (ann(0, "iscrowd", 2), "'iscrowd' 2"),
    "string area": (ann(0, "area", "big"), "non-numeric or non-finite 'area'"),
    "boolean id": (ann(0, "id", True), "has 'id' True (bool)"),
}


@pytest.mark.parametrize("case", sorted(GT_CASES))
@pytest.mark.parametrize("command", ["stats", "eval"])
def test_bad_ground_truth(tmp_path: Path, case: str, command: str) -> None:
    edit, expected = GT_CASES[case]
    gt, dt = coco_pair(tmp_path, gt_edit=edit)
    args = ["data", "stats", gt] if command == "stats" else ["eval", gt, dt]
    bench_fails(args, str(gt), expected)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_literals_in_json(tmp_path: Path, literal: str) -> None:
    gt, dt = coco_pair(tmp_path)
    gt.write_text(gt.read_text().replace('"area": 10000', f'"area": {literal}', 1))
    bench_fails(["data", "stats", gt], str(gt),
                "annotations[0] (id 1) has a non-numeric or non-finite 'area'")


DT_CASES = {
    "detection of an unknown image": (lambda dt: dt[0].__setitem__("image_id", 99), "detection 0 references "
                                      "image_id 99, which is not among the images"),
    "unhashable detection image id": (lambda dt: dt[0].__setitem__("image_id", [1]),
                                      "detection 0 has 'image_id'"),
    "string score": (lambda dt: dt[1].__setitem__("score", "high"), "detection 1 has a non-numeric"),
    "NaN score": (lambda dt: dt[1].__setitem__("score", float("nan")),
                  "detection 1 has a non-numeric or non-finite"),
    "negative box": (lambda dt: dt[0].__setitem__("bbox", [0, 0, -1, 5]), "detection 0 has a negative"),
    "box as a string": (lambda dt: dt[0].__setitem__("bbox", "0 0 1 1"), "expected [x, y, width, height]"),
    "a number for a detection": (lambda dt: dt.append(5), "detection 6 is a int, expected an object"),
}


@pytest.mark.parametrize("case", sorted(DT_CASES))
def test_bad_detections(tmp_path: Path, case: str) -> None:
    edit, expected = DT_CASES[case]
    gt, dt = coco_pair(tmp_path, dt_edit=edit)
    bench_fails(["eval", gt, dt], str(dt), expected)


def test_duplicate_ground_truth_ids_are_an_error_not_a_lower_ap(tmp_path: Path) -> None:
    """With two annotations sharing an id, COCOeval's index keeps one of them: the perfect detection of the
    other counts as a false positive and AP drops; bench refuses the file instead."""
    from bench.coco.evaluate import run_cocoeval

    gt = make_gt([(100, 100), (200, 150)], images=1)
    detections = perfect_detections(gt)
    coco_areas = {"all": [0, 1e10], "small": [0, 1024], "medium": [1024, 9216], "large": [9216, 1e10]}
    assert run_cocoeval(gt, detections, "bbox", coco_areas)[0] == pytest.approx(1.0)
    duplicated = json.loads(json.dumps(gt))
    duplicated["annotations"][1]["id"] = 1
    # what pycocotools does silently: its index maps both category lists to the second annotation
    assert run_cocoeval(duplicated, detections, "bbox", coco_areas)[0] == pytest.approx(0.505, abs=1e-3)
    gt_path, dt_path = (write_json(tmp_path / "gt.json", duplicated),
                        write_json(tmp_path / "dt.json", detections))
    bench_fails(["eval", gt_path, dt_path], "annotations[1] repeats id 1")


def test_zero_sized_boxes_are_warnings(tmp_path: Path) -> None:
    gt = make_gt([(100, 100), (200, 150)])
    gt["annotations"].append(box_annotation(99, 1, 1, 3, 3, 0, 10))
    gt_path, dt_path = (write_json(tmp_path / "gt.json", gt),
                        write_json(tmp_path / "dt.json", perfect_detections(gt)))
    code, out, err = invoke(app, ["eval", str(gt_path), str(dt_path)])
    assert code == 0 and f"warning: {gt_path}: annotations[6] (id 99) has a zero-sized bbox" in out
    assert f"warning: {dt_path}: 1 detection(s) have a zero-sized bbox" in out


def test_a_schema_version_of_the_wrong_type_is_one_line(tmp_path) -> None:
    """Found by the deep fuzz profile: `"schema_version": []` raised TypeError (unhashable) in the
    migration."""
    import json

    from bench.errors import BenchError
    from bench.records.store import load_record

    source = sorted(Path("results/runs").glob("*/record.json"))[0]
    for bad in ([], {}, "2", 2.0, True):
        data = json.loads(source.read_text())
        data["schema_version"] = bad
        (tmp_path / "record.json").write_text(json.dumps(data))
        with pytest.raises(BenchError, match=r"schema_version .* is not an integer"):
            load_record(tmp_path / "record.json")
