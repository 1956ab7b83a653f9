"""`bench table`: the all-runs page and the plots as pure functions of records built here (the results README
itself: tests/test_results_page.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from statistics import median, stdev

import pytest
from typer.testing import CliRunner

from bench.cli import cli
from bench.errors import BenchError
from bench.vocabulary import RunStatus
from bench.report import rows as rows_module
from bench.report.generate import build
from bench_roots import BenchEnv
from table_records import PUBLISHED_SOURCE, V100, committed_deviations, inline_links, make_record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STALE_RUNS = {"r07"}
D2_REPEATS = [58.0, 61.5, 64.0]
REAL_DEVIATIONS = committed_deviations("20261123T023951-710622-builtin")  # nine, one of them 190 characters


@pytest.fixture
def results(tmp_path: Path, bench_env: BenchEnv, published_recipes: Path,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    """results/ with records of several implementations, a repeat group, two protocol versions, a deviation,
    a stale row, a smoke row, a failed latest attempt, and rows on other hardware."""
    monkeypatch.setattr(rows_module, "is_stale", lambda record: record.run_id in STALE_RUNS)
    # the records below include a protocol 2, which this bench does not ship: one of the same shape as
    # protocol 1
    from bench.protocol.spec import load_protocol
    from bench.report import comparability

    monkeypatch.setattr(comparability, "load_protocol",
                        lambda version: load_protocol(1).model_copy(update={"version": version}))
    runs = tmp_path / "results" / "runs"
    series = [[float(i), 0.25 + 0.01 * (i % 3)] for i in range(20, 520, 20)]
    make_record(runs, "r01", "detectron2", 55.0, created="2026-01-01T00:00:00+00:00", series=series)
    for k, value in enumerate(D2_REPEATS):  # the latest detectron2 record belongs to this repeat group
        make_record(runs, f"r0{k + 2}", "detectron2", value, created=f"2026-01-02T00:00:0{k}+00:00",
                    repeat_group="g1", series=series)
    make_record(runs, "r05", "mmdetection", 50.0, created="2026-01-03T00:00:00+00:00",
                deviations=("images_per_gpu: 1 (protocol: 2)",))
    make_record(runs, "r06", "mmdetection", None, created="2026-01-06T00:00:00+00:00",
                status=RunStatus.CRASHED, reason="line 900: boom | bang")
    make_record(runs, "r07", "maskrcnn-benchmark", 52.0, created="2026-01-03T00:00:00+00:00")
    make_record(runs, "r08", "tensorpack", 70.0, created="2026-01-03T00:00:00+00:00", protocol=2,
                deviations=tuple(REAL_DEVIATIONS))
    make_record(runs, "r09", "builtin", 3.25, created="2026-01-04T00:00:00+00:00", gpus=0, gpu_model=None,
                comparable=False, preset="smoke", family="builtin", variant="builtin", series=series,
                environment={"cpu": {"model": "Test CPU 9000", "logical": 4, "physical": 2}})
    make_record(runs, "r10", "detectron2", 40.0, created="2026-01-05T00:00:00+00:00", gpu_model="H100")
    make_record(runs, "r11", "maskrcnn-benchmark", 30.0, created="2026-01-05T00:00:00+00:00",
                gpu_model="H100")
    return tmp_path / "results"


def run_table(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["table", *args])
    return result.exit_code, result.output


def pages(results: Path) -> dict[str, str]:
    """Each page `bench table` would write (in memory, without rendering the plots), by file name, links
    inlined."""
    outputs = build(results / "runs", results / "README.md", with_images=False)
    return {path.name: inline_links(text) for path, text in outputs.pages.items()}


def readme(results: Path) -> str:
    """The all-runs page (every row per section and hardware), links inlined."""
    return pages(results)["all-runs.md"]


def section(text: str, heading: str) -> str:
    """The text under `heading` up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = text.index(heading + "\n") + len(heading) + 1
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.M)
    match = following.search(text, start)
    return text[start: match.start() if match else len(text)]


def table_rows(text: str) -> list[dict[str, str]]:
    """The first markdown table in `text` as dicts."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    header, body = split[0], split[2:]
    return [dict(zip(header, row)) for row in body]


def by_impl(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Rows by implementation name, without the rank and the stale mark."""
    return {re.sub(r"^\d+\. | \(stale\)$", "", row.get("Implementation", row.get("Family", ""))): row
            for row in rows}


def details(text: str, anchor: str) -> list[str]:
    """The details list item with this anchor: its head line and its sub-items, continuation lines joined."""
    block = text[text.index(f'<a id="{anchor}"></a>'):]
    items = re.split(r"\n  - ", block.split("\n- ", 1)[0].split("\n\n", 1)[0])
    return [" ".join(item.split()) for item in items]


def test_rows_numbers_ratio_and_published(results: Path) -> None:
    text = readme(results)
    v100 = by_impl(table_rows(section(text, f"### Protocol 1 · 8 × {V100}")))
    assert set(v100) == {"detectron2", "mmdetection", "maskrcnn-benchmark"}
    d2 = median(D2_REPEATS)
    detectron2 = v100["detectron2"]
    assert detectron2["img/s"] == "61.5 (58.0–64.0)" and detectron2["n"] == "3"  # r01 is not part of the row
    assert detectron2["vs Detectron2"] == "1.00"
    # a single run against a group of three: the group's relative standard deviation carries into the ratio
    spread = stdev(D2_REPEATS) / d2
    assert v100["mmdetection"]["vs Detectron2"] == f"{50.0 / d2:.3f} ± {50.0 / d2 * spread:.4f}"
    assert v100["maskrcnn-benchmark"]["vs Detectron2"].startswith(f"{52.0 / d2:.3f} ± ")
    assert [table_rows(section(text, f"### Protocol 1 · 8 × {V100}"))[i]["Implementation"]
            for i in range(3)] == ["1. detectron2", "2. maskrcnn-benchmark (stale)", "3. mmdetection"]
    assert detectron2["Published"] == f"[62]({PUBLISHED_SOURCE}) on 8 × V100"
    assert detectron2["Record"] == "[record](runs/r04/record.json)"
    head = details(text, detectron2["Deviations"].split("(#")[1].rstrip(")"))[0]
    assert "2026-01-02" in head and "repeat group of 3: r02, r03, r04" in head and "(plots/r04.png)" in head
    assert re.search(r"\[`[0-9a-f]{7}`\]\(https://github.com/example/detectron2/commit/[0-9a-f]{40}\)", head)


def test_settings_stated_once_above_each_table(results: Path) -> None:
    text = readme(results)
    part = section(text, f"### Protocol 1 · 8 × {V100}")
    settings = " ".join(part.split("\n|", 1)[0].split())
    assert f"**Hardware:** 8 × {V100}" in settings and "**Data:** real, /data/coco" in settings
    assert "**Precision:** fp32 (protocol, no deviation recorded)" in settings
    assert "**Window:** iterations 101–500" in settings and "**Stack:** not recorded" in settings
    assert len(table_rows(part)[0]) <= 7
    header = next(line for line in part.splitlines() if line.startswith("|:"))
    assert header.split("|")[2].endswith(":")  # numbers right-aligned


def test_same_hardware_only_and_cpu_sections(results: Path) -> None:
    text = readme(results)
    h100 = by_impl(table_rows(section(text, "### Protocol 1 · 8 × H100")))
    assert h100["maskrcnn-benchmark"]["vs Detectron2"] == f"{30.0 / 40.0:.3f}"
    assert h100["detectron2"]["img/s"] == "40.0"
    p2 = by_impl(table_rows(section(text, f"### Protocol 2 · 8 × {V100}")))
    # no Detectron2 in protocol 2: never borrowed from protocol 1
    assert p2["tensorpack"]["vs Detectron2"] == ""
    cpu = section(text, "### Not comparable (smoke preset) · CPU only: Test CPU 9000, 4 cores")
    assert by_impl(table_rows(cpu))["builtin"]["img/s"] == "3.25"
    assert "unknown GPU" not in text and "0 ×" not in text


def test_protocol_versions_never_ranked_together(results: Path) -> None:
    text = readme(results)
    assert text.index("## Protocol 2") < text.index("## Protocol 1")
    assert "tensorpack" not in table_rows(section(text, "## Protocol 1"))[0]["Implementation"]
    p2 = table_rows(section(text, "## Protocol 2"))
    assert p2[0]["Implementation"] == "tensorpack"  # 70 img/s, yet not ranked above protocol 1's rows, and
    # alone in its table: one row is not a ranking (no rank)


def test_deviations_counted_and_listed_in_full(results: Path) -> None:
    text = readme(results)
    p2 = by_impl(table_rows(section(text, "## Protocol 2")))
    count, anchor = re.fullmatch(r"\[(\d+)\]\(#(row-\d+)\)", p2["tensorpack"]["Deviations"]).groups()
    assert int(count) == len(REAL_DEVIATIONS)
    assert details(text, anchor)[1:] == [f"deviation: {d}" for d in REAL_DEVIATIONS]
    v100 = by_impl(table_rows(section(text, f"### Protocol 1 · 8 × {V100}")))
    stale = details(text, v100["maskrcnn-benchmark"]["Deviations"].split("(#")[1].rstrip(")"))
    assert any(item.startswith("stale:") and "bench run --stale" in item for item in stale)
    assert v100["detectron2"]["Deviations"].startswith("[0](#")
    # no note repeats its cell: the cells hold counts and numbers, never the text the details hold
    cells = {c for rows in map(table_rows, text.split("\n### ")[1:]) for row in rows for c in row.values()}
    assert not any(d in c for d in REAL_DEVIATIONS for c in cells)


def test_widest_line(results: Path) -> None:
    """The README within a terminal's width, but for a link definition (tests/test_results_page.py); the
    all-runs page's tables as wide as their cells."""
    for path, text in build(results / "runs", results / "README.md", with_images=False).pages.items():
        assert max(len(line) for line in text.splitlines() if not line.startswith("[")) < 200, path


def test_smoke_rows_apart_and_failed_attempts_listed(results: Path) -> None:
    text = readme(results)
    smoke_part = section(text, "## Not comparable (smoke preset)")
    assert "not ranked" in smoke_part and "builtin" not in section(text, "## Protocol 1")
    row = by_impl(table_rows(smoke_part))["builtin"]
    assert row["Implementation"] == "builtin" and row["vs Detectron2"] == ""
    failed = by_impl(table_rows(section(text, "## Latest attempts without a measurement")))
    assert failed["mmdetection"]["Status"] == "crashed"
    assert failed["mmdetection"]["Reason"].endswith("\\| bang")  # a pipe in a cell is escaped


def test_published_table(results: Path) -> None:
    text = pages(results)["README.md"]
    part = section(text, "## Published table (2020)")
    assert "As published, not measured here" in part and "Every row on 8 × V100." in " ".join(part.split())
    published = {row["recipe"].strip("`"): row for row in table_rows(part)}
    assert [published[n]["img/s"] for n in ("detectron2", "mmdetection", "tensorpack")] == ["62", "53", "50"]
    assert published["mmdetection"]["vs Detectron2"] == f"{53 / 62:.3f}"
    assert f"- `mmdetection`: [source]({PUBLISHED_SOURCE})" in text


def test_regeneration_is_byte_identical(results: Path) -> None:
    assert run_table()[0] == 0
    files = sorted(p for p in results.rglob("*") if p.is_file() and "runs" not in p.parts)
    first = {p: p.read_bytes() for p in files}
    assert results / "throughput.png" in first and results / "plots" / "r04.png" in first
    for path in files:
        path.unlink()
    assert run_table()[0] == 0
    assert {p: p.read_bytes() for p in files} == first
    again = build(results / "runs", results / "README.md")  # in memory, the same again
    assert {path: text.encode() for path, text in again.pages.items()} == {p: first[p] for p in again.pages}
    assert again.images == {p: first[p] for p in again.images}


def test_plots_are_valid_pngs_without_dates(results: Path) -> None:
    import matplotlib.image

    run_table()
    pngs = [results / "throughput.png"] + sorted((results / "plots").glob("*.png"))
    # one timeline per record with a series: r01..r04 (detectron2) and r09 (builtin)
    assert [p.stem for p in pngs[1:]] == ["r01", "r02", "r03", "r04", "r09"]
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert b"tIME" not in data and b"Software" not in data
        assert matplotlib.image.imread(png).shape[0] > 100


def test_check_exit_status(results: Path) -> None:
    code, output = run_table("--check")
    assert code == 1 and "README.md: missing" in output
    assert run_table()[0] == 0
    code, output = run_table("--check")
    assert code == 0 and "up to date" in output
    assert run_table()[1].count("wrote") == 0  # nothing changed: nothing rewritten
    make_record(results / "runs", "r12", "tensorpack", 48.0, created="2026-01-07T00:00:00+00:00")
    code, output = run_table("--check")
    assert code == 1 and "all-runs.md: differs" in output
    assert run_table()[0] == 0 and run_table("--check")[0] == 0
    (results / "plots" / "r01.png").unlink()
    code, output = run_table("--check")
    assert code == 1 and "r01.png: missing" in output


def test_orphan_plots_removed_and_reported(results: Path) -> None:
    run_table()
    orphan = results / "plots" / "gone.png"  # a plot bench generated for a record that is gone
    orphan.write_bytes((results / "plots" / "r01.png").read_bytes())
    users = results / "plots" / "mine.png"  # a file bench did not generate: never reported, never removed
    users.write_bytes(PNG_MAGIC)
    code, output = run_table("--check")
    assert code == 1 and "gone.png" in output and "mine.png" not in output
    run_table()
    assert not orphan.exists() and users.read_bytes() == PNG_MAGIC


def test_out_and_runs_options(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "TABLE.md"
    code, _ = run_table("--runs", str(results / "runs"), "--out", str(out))
    assert code == 0 and (out.parent / "throughput.png").exists()
    beside = out.parent / "all-runs.md"  # the pages go beside the table, their links relative to it
    assert "../results/runs/r04/record.json" in beside.read_text() and "(all-runs.md)" in out.read_text()
    assert run_table("--runs", str(results / "runs"), "--out", str(out), "--check")[0] == 0
    missing = CliRunner().invoke(cli, ["table", "--runs", str(tmp_path / "nowhere")])
    assert isinstance(missing.exception, BenchError) and "no such directory" in str(missing.exception)


def test_no_records(tmp_path: Path, bench_env: BenchEnv) -> None:
    bench_env.use_recipes()
    (tmp_path / "recipes").mkdir()  # one recipe with no published number: no recipes at all is an error
    shutil.copy(Path(__file__).resolve().parents[1] / "recipes" / "builtin.toml", tmp_path / "recipes")
    code, output = run_table()  # no records and no table yet: says so, creates nothing
    assert code == 0 and "no run records" in output and not (tmp_path / "results").exists()
    assert run_table("--check")[0] == 0
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "README.md").write_text("a table whose records are gone\n")
    assert run_table()[0] == 0
    text = (tmp_path / "results" / "README.md").read_text()
    assert "No run records yet" in text and "## Published table" not in text
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["README.md"]  # no page to show
    assert run_table("--check")[0] == 0


def test_measurement_warnings_become_notes_on_the_number(results: Path) -> None:
    from bench.measure.warnings import warning
    from bench.records.store import load_record, save_record

    record = load_record(results / "runs" / "r07")
    caveat = warning("median-based", "the printed times are medians", "parse log.txt instead")
    save_record(record.model_copy(update={"warnings": [caveat]}), results / "runs" / "r07")
    text = readme(results)
    row = by_impl(table_rows(section(text, f"### Protocol 1 · 8 × {V100}")))["maskrcnn-benchmark"]
    assert row["img/s"] == "52.0 ⚠"
    items = details(text, row["Deviations"].split("(#")[1].rstrip(")"))
    assert "warning: the printed times are medians (parse log.txt instead)" in items
