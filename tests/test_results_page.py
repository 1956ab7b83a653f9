"""The results README leads with the answer and fits a terminal; everything else is on pages beside it,
linked; the HTML index leads with the same answer. Expected values are computed here from the records'
numbers."""

from __future__ import annotations

import itertools
import math
import re
import shutil
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import cli
from bench.recipes import load_all
from bench.records.store import load_records, save_record
from bench.vocabulary import MLPERF_FAMILY
from table_records import inline_links, make_record, markdown_tables, rendered_pages

CPU = {"cpu": {"model": "Test CPU 9000", "logical": 2}}
SYNTHETIC = {"path": "/cache/synth", "synthetic": True}
FAMILY = {"detectron2-current": "detectron2", "mmdetection-current": "mmdetection",
          "builtin": "torchvision-builtin"}
NEW_SMOKE = {"detectron2-current": [0.92, 0.64, 1.16], "builtin": [0.597, 0.512, 0.636],
             "mmdetection-current": [0.56, 0.531, 0.574]}
OLD_SMOKE = {"detectron2-current": [0.7, 0.8], "mmdetection-current": [0.5, 0.4]}
GPU_ONE = {"builtin": [31.4, 29.9, 32.7]}
MODELS = ["Tesla V100-SXM2-16GB", "NVIDIA A100-SXM4-80GB", "NVIDIA A30", "NVIDIA L40",
          "NVIDIA H100-SXM5-80GB"]
GENERATIONS = ["V100 (Volta)", "A100 (Ampere)", "A30 (Ampere)", "L40 (Ada)", "H100 (Hopper)"]
ROUNDS = ["1.0", "1.1", "2.0", "2.1", "3.0", "3.1"]  # 5 x 6 = 30 pairs: the summary keeps the newest 25


def suite_run(runs: Path, suite_id: str, preset: str, members: dict[str, list[float]], day: str,
              **facts) -> None:
    """A suite run's records, repeats interleaved (member A, B, C, A, B, C, ...)."""
    repeats = max(map(len, members.values()))
    for k, (round_, name) in enumerate(itertools.product(range(repeats), members)):
        if round_ >= len(members[name]):
            continue
        run_id = f"{day}T{k:02d}-{suite_id}-{list(members).index(name)}"
        record = make_record(runs, run_id, name, members[name][round_], created=f"{day}T00:{k:02d}:00+00:00",
                             preset=preset, family=FAMILY.get(name, "other"), variant="current",
                             dataset=SYNTHETIC, repeat_group=f"{suite_id}-{name}", **facts)
        suite = {"name": "current", "id": suite_id, "preset": preset, "members": list(members),
                 "round": round_ + 1}
        save_record(record.model_copy(update={"extra": {"suite": suite}}), runs / run_id)


def mlperf_systems(runs: Path) -> None:
    """Two systems per accelerator and round, 8 accelerators each: "slow" and "fast"."""
    for model, (r, version) in itertools.product(MODELS, enumerate(ROUNDS)):
        for speed, kind in ((10.0 + r, "slow"), (20.0 + r, "fast")):
            run_id = f"mlperf-{version}-{model.split()[-1]}-{kind}"
            title = f"Org {model.split()[-1]} v{version} {kind}"
            record = make_record(runs, run_id, run_id, 8 * speed, created="2025-01-01T00:00:00+00:00",
                                 gpu_model=model, family=MLPERF_FAMILY, variant="mlperf",
                                 environment={"nodes": 1, "accelerators_per_node": 8})
            extra = {"mlperf": {"version": version, "log_url": f"https://example.org/{run_id}/result_0.txt"}}
            save_record(record.model_copy(update={"extra": extra, "title": title}), runs / run_id)


def faster_systems() -> dict[tuple[str, str], str]:
    """(accelerator generation, round) -> the title of its faster system."""
    return {(generation, f"v{version}"): f"Org {model.split()[-1]} v{version} fast"
            for (model, generation), version in itertools.product(zip(MODELS, GENERATIONS), ROUNDS)}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """results/ with its records, written once for the module: read it, or copy it (`results`) to change
    it."""
    runs = tmp_path_factory.mktemp("shared") / "results" / "runs"
    cpu = {"gpus": 0, "gpu_model": None, "environment": CPU}
    suite_run(runs, "current-smoke-old", "smoke", OLD_SMOKE, "2026-01-01", **cpu)
    suite_run(runs, "current-smoke-new", "smoke", NEW_SMOKE, "2026-02-02", **cpu)
    suite_run(runs, "current-full-one", "full", GPU_ONE, "2026-02-03", gpus=1, gpu_model="NVIDIA H200")
    make_record(runs, "p1", "detectron2", 62.5, created="2026-01-05T00:00:00+00:00")  # alone in protocol 1
    mlperf_systems(runs)
    return runs.parent


@pytest.fixture
def results(shared: Path, tmp_path: Path) -> Path:
    """A copy of the shared results/ for a test that changes it."""
    return Path(shutil.copytree(shared, tmp_path / "results"))


@pytest.fixture(scope="module")
def pages(shared: Path) -> dict[str, str]:
    return rendered_pages(load_records(shared / "runs"), load_all(), shared)


def headings(text: str, level: int) -> list[str]:
    return re.findall(rf"^{'#' * level} (.*)$", text, re.M)


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    following = re.compile(r"^## ", re.M).search(text, start + 3)
    return text[start:following.start() if following else len(text)]


def exact_p(a: list[float], b: list[float]) -> float:
    """Two-sided exact Mann-Whitney p: the share of all splits of the pooled values whose U is as extreme."""
    pooled, n = a + b, len(a)
    def u(x: list[float], y: list[float]) -> float:
        return sum((xi > yi) + 0.5 * (xi == yi) for xi in x for yi in y)
    centre, seen = len(a) * len(b) / 2, abs(u(a, b) - len(a) * len(b) / 2)
    splits = list(itertools.combinations(range(len(pooled)), n))
    def rest(split: tuple[int, ...]) -> list[float]:
        return [pooled[i] for i in range(len(pooled)) if i not in split]
    extreme = sum(abs(u([pooled[i] for i in s], rest(s)) - centre) >= seen - 1e-9 for s in splits)
    return extreme / len(splits)


def test_the_readme_fits_a_terminal_and_leads_with_the_answer(pages: dict[str, str]) -> None:
    readme = pages["README.md"]
    assert len(readme.splitlines()) <= 300
    definition = re.compile(r"\[\w+\]: ")  # a link definition may be wider
    assert [line for line in readme.splitlines() if len(line) > 120 and not definition.match(line)] == []
    assert headings(readme, 2) == ["Which implementation trains fastest?",
                                   "Then and now: ratio to Detectron2", "Published table (2020)",
                                   "Real hardware: MLPerf Training (imported)", "Everything else"]
    answer = " ".join(section(readme, "Which implementation trains fastest?").split())
    # the newest multi-member run: the CPU smoke one, said plainly, with why it is not comparable
    assert "suite `current`, preset `smoke`, on CPU only: Test CPU 9000, 2 cores, 2026-02-02" in answer
    assert "This is a CPU `smoke` run: it is not comparable with the published 2020 table below" in answer
    assert "synthetic data" in answer and "0 GPUs (protocol 8)" in answer
    assert ("No GPU run of suite `current` with two or more members exists yet: the GPU ranking is pending "
            "(`bench run --suite current --preset full --gpus 1 --repeat 3`") in answer
    assert "builtin on 1 × NVIDIA H200 (preset full)" in answer and "[suite runs](suites.md)" in answer


def test_the_ranking_is_computed_from_the_repeats(pages: dict[str, str]) -> None:
    ranking = markdown_tables(pages["README.md"])[0]
    order = sorted(NEW_SMOKE, key=lambda name: -statistics.median(NEW_SMOKE[name]))
    assert [row["implementation"] for row in ranking] == order
    assert [row["rank"] for row in ranking] == ["1", "2", "3"]
    base = NEW_SMOKE["detectron2-current"]
    for row, name in zip(ranking, order):
        values = NEW_SMOKE[name]
        assert float(row["median img/s"]) == pytest.approx(statistics.median(values), rel=5e-3)
        assert row["n"] == str(len(values))
        if name != "detectron2-current":  # ratio of medians ± the delta method's standard error
            ratio = statistics.median(values) / statistics.median(base)
            error = ratio * math.sqrt(sum((statistics.stdev(v) / statistics.mean(v)) ** 2 / len(v)
                                          for v in (values, base)))
            shown, shown_error = map(float, row["ratio"].split(" ± "))
            assert (shown, shown_error) == (pytest.approx(ratio, rel=5e-3), pytest.approx(error, rel=5e-3))
    for row, name, following in zip(ranking, order, order[1:]):
        p = exact_p(NEW_SMOKE[name], NEW_SMOKE[following])
        assert row["vs next"] == f"{'faster' if p <= 0.1 else '≈'} (p = {p:.2f})"


def test_one_then_and_now_table_from_the_same_ranking(pages: dict[str, str]) -> None:
    readme = pages["README.md"]
    tables = [t for t in markdown_tables(readme) if t and "published 2020" in t[0]]
    assert len(tables) == 1
    assert "then and now" not in "".join(pages[p].lower() for p in pages if p != "README.md")
    rows = {row["implementation now"]: row for row in tables[0]}
    ranking = {row["implementation"]: row["ratio"] for row in markdown_tables(readme)[0]}
    assert set(rows) == set(NEW_SMOKE)
    assert rows["mmdetection-current"]["published 2020"] == f"{53 / 62:.3f}"  # the recipes' references
    assert rows["builtin"]["published 2020"] == "not published"
    assert rows["builtin"]["family"] == "torchvision-builtin"
    assert all(rows[name]["measured now (to detectron2-current)"] == ranking[name] for name in rows)


def test_no_ranked_table_of_a_single_member_anywhere(pages: dict[str, str]) -> None:
    for name, text in pages.items():
        for table in markdown_tables(text):
            ranked = [row for row in table
                      if row.get("rank") or re.match(r"\d+\. ", row.get("Implementation", ""))]
            assert not ranked or len(table) >= 2, name
    suites = pages["suites.md"]  # the older ranking and the single-member run are here, not on the README
    assert "current-smoke-old" in suites and "current-smoke-old" not in pages["README.md"]
    single = next(t for t in markdown_tables(suites) if t and "suite run" in t[0])
    assert [(row["suite run"], row["member"], row["median img/s"]) for row in single] == [
        ("current-full-one", "builtin", "31.4")]
    assert "| detectron2 " in pages["all-runs.md"] and "1. detectron2" not in pages["all-runs.md"]


def test_best_hardware_comes_first(results: Path) -> None:
    """A GPU ranking leads even when a CPU ranking is newer; the CPU one follows, the pending line goes."""
    suite_run(results / "runs", "current-full-two", "full", {"detectron2-current": [28.0, 29.0],
                                                             "builtin": [19.0, 20.0]},
              "2026-01-20", gpus=1, gpu_model="NVIDIA H200")
    readme = rendered_pages(load_records(results / "runs"), load_all(), results)["README.md"]
    answer = " ".join(section(readme, "Which implementation trains fastest?").split())
    gpu, cpu = "on 1 × NVIDIA H200, 2026-01-20", "### Also ranked: CPU only: Test CPU 9000"
    assert answer.index(gpu) < answer.index(cpu)
    assert "No GPU run" not in answer
    assert [row["implementation"] for row in markdown_tables(readme)[0]] == ["detectron2-current", "builtin"]


def test_mlperf_summary_is_the_best_per_accelerator_and_round(pages: dict[str, str]) -> None:
    faster = faster_systems()
    readme = inline_links(pages["README.md"])
    summary = next(t for t in markdown_tables(readme) if t and "system (its log)" in t[0])
    newest = sorted(faster, key=lambda pair: (GENERATIONS.index(pair[0]), pair[1]))
    newest = [pair for pair in newest if pair[1] != "v1.0"]  # 30 pairs: the 25 of the newest rounds
    assert len(summary) == 25
    assert [(row["accelerator"], row["round"], re.sub(r"^\[(.*)\]\(.*\)$", r"\1", row["system (its log)"]))
            for row in summary] == [(*pair, faster[pair]) for pair in newest]
    assert "5 older pairs of accelerator and round left out here" in " ".join(readme.split())
    assert len(markdown_tables(pages["mlperf.md"])[0]) == 60  # every system on its own page


def test_pages_written_together_linked_and_checked(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine" / "README.md"
    runner = CliRunner()
    def table(*args: str):
        return runner.invoke(cli, ["table", "--runs", str(results / "runs"), "--out", str(out), *args])
    assert table().exit_code == 0
    written = sorted(p.name for p in out.parent.glob("*.md"))
    assert written == ["README.md", "all-runs.md", "mlperf.md", "suites.md"]
    for page in out.parent.glob("*.md"):  # every relative link names a file bench wrote
        text = page.read_text(encoding="utf-8")
        targets = re.findall(r"\]\(([^)#]+)[^)]*\)", text) + re.findall(r"^\[\w+\]: (\S+)$", text, re.M)
        for target in (t for t in targets if "://" not in t):
            assert (page.parent / target).exists(), f"{page.name}: {target}"
    assert table("--check").exit_code == 0
    (out.parent / "suites.md").unlink()
    check = table("--check")
    assert check.exit_code == 1 and "suites.md: missing" in check.output
    for run in (results / "runs").glob("mlperf-*"):  # no MLPerf record any more: its page and plot go
        for file in run.iterdir():
            file.unlink()
        run.rmdir()
    assert table().exit_code == 0
    assert not (out.parent / "mlperf.md").exists() and not (out.parent / "mlperf.png").exists()
    (out.parent / "mlperf.md").write_text("my own notes\n")  # a file bench did not write stays
    assert table().exit_code == 0 and (out.parent / "mlperf.md").read_text() == "my own notes\n"


def test_html_index_leads_with_the_same_answer(shared: Path) -> None:
    from bench.report.html import index_html

    html = index_html(load_records(shared / "runs"), load_all(), ["throughput.png"])
    order = ["<h1>Results</h1>", "<h2>Which implementation trains fastest?</h2>",
             "<h2>Then and now: ratio to Detectron2</h2>", "<h2>Published table (2020)</h2>",
             '<h2 id="suites">', '<h2 id="all-runs">']
    assert [html.index(mark) for mark in order] == sorted(html.index(mark) for mark in order)
    assert "`" not in html and "<code>current</code>" in html  # code rendered as code, never backticks
    ranking = html[html.index("<h2>Which"):html.index("<h2>Then")]
    members = [ranking.index(name) for name in ("detectron2-current", "builtin", "mmdetection-current")]
    assert members == sorted(members)
    assert 'href="#suites"' in html and "<td>`detectron2`" not in html and "<code>detectron2</code>" in html


def test_text_from_records_stays_text_in_the_answer(tmp_path: Path) -> None:
    """A suite run whose preset, CPU model and member names hold markdown and HTML: each cell stays one cell,
    the page stays within its width rules, and the HTML index escapes it."""
    runs = tmp_path / "runs"
    hostile = "x|y `c` <i>*b*"
    suite_run(runs, "s-hostile", f"p {hostile}", {f"a {hostile}": [2.0, 2.1], f"b {hostile}": [1.0, 1.1]},
              "2026-03-03", gpus=0, gpu_model=None, environment={"cpu": {"model": hostile, "logical": 2}})
    readme = rendered_pages(load_records(runs), load_all(), tmp_path)["README.md"]
    for block in readme.split("\n\n"):  # no cell splits: every row of a table has its header's pipes
        rows = [line.replace("\\|", "") for line in block.splitlines() if line.startswith("|")]
        assert len({row.count("|") for row in rows}) <= 1, block
    assert "a x\\|y \\`c\\` \\<i\\>\\*b\\*" in readme
    from bench.report.html import index_html

    html = index_html(load_records(runs), load_all(), [])
    assert "<i>" not in html and "x|y `c` &lt;i&gt;*b*" in html.replace("<code>c</code>", "`c`")
