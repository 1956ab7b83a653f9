"""The README leads with the two commands and the answer and fits a terminal; the documentation under docs/ is
reachable from it and every relative link in README.md and docs/*.md resolves (file, and anchor where given).
The README's answer is the block `bench table` writes between its markers (bench.report.project_readme)."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.recipes import load_all
from bench.records.store import load_records
from bench.report import generate, project_readme
from test_results_page import NEW_SMOKE, suite_run

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_LINES, MAX_WIDTH, COMMANDS_WITHIN = 250, 120, 60

LINK_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s")
INLINE_LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, inline code removed (neither holds links)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append(CODE_SPAN.sub("", line))
    return out


def links(text: str) -> list[str]:
    """Every link target of a markdown text: inline links and images, and reference definitions."""
    found = []
    for line in prose_lines(text):
        definition = LINK_DEFINITION.match(line)
        found += [line.split("]:", 1)[1].split()[0]] if definition else INLINE_LINK.findall(line)
    return found


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to hyphens, a
    repeated one numbered."""
    seen: dict[str, int] = {}
    for line in prose_lines(text.replace("`", "")):
        if re.match(r"#{1,6} ", line):
            title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line.lstrip("#").strip())
            slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
            seen[slug] = seen.get(slug, -1) + 1
    return {f"{slug}-{n}" if n else slug for slug, count in seen.items() for n in range(count + 1)}


def test_readme_fits_a_terminal() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    wide = [f"line {n}: {len(line)}" for n, line in enumerate(lines, 1)
            if len(line) > MAX_WIDTH and not LINK_DEFINITION.match(line)]
    assert len(lines) <= MAX_LINES and not wide


def _first_command(text: str) -> str:
    """The first shell line of a page's first ```bash block."""
    return text.split("```bash\n", 1)[1].splitlines()[0]


def test_the_two_commands_lead_the_readme_exactly_as_ci_and_docs_run_them() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    comment = next(n for n, line in enumerate(ci) if line.startswith("# The README's test command"))
    test_command = ci[comment + 1]
    main_command = _first_command((DOCS / "first-run.md").read_text(encoding="utf-8"))
    head = "\n".join(README.read_text(encoding="utf-8").splitlines()[:COMMANDS_WITHIN])
    commands = re.sub(r" \\\n\s*", " ", head).splitlines()  # a command wrapped with `\` is one command
    assert main_command.endswith("bench table --out my-results/README.md") and "pytest" in test_command
    assert main_command in commands and test_command in commands


def test_the_answer_follows_the_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(project_readme.START)
    assert lines.index(project_readme.END) > start
    assert "## Which implementation trains fastest?" in lines[start:COMMANDS_WITHIN]
    assert any(line.startswith("| 1 ") for line in lines[start:COMMANDS_WITHIN])  # the ranking's first row


def test_the_readme_answer_is_the_results_pages() -> None:
    """The committed README's answer is the committed results page's, links rebased into results/ (what
    `bench table` writes into both from the same records)."""
    def answer(text: str) -> str:
        return text.split("## Which implementation trains fastest?", 1)[1].split("\n## ", 1)[0]

    results = answer((ROOT / "results" / "README.md").read_text(encoding="utf-8"))
    readme = answer(README.read_text(encoding="utf-8"))
    assert readme == re.sub(r"\]\((?![a-z]+:)", "](results/", results)


def test_every_relative_link_resolves() -> None:
    pages = [README, *sorted(DOCS.glob("*.md"))]
    broken = []
    for page in pages:
        for target in links(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text(encoding="utf-8")):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken


def test_every_page_is_reachable_from_the_readme() -> None:
    index = DOCS / "index.md"
    listed = {(DOCS / target).resolve() for target in links(index.read_text(encoding="utf-8"))}
    assert "docs/index.md" in links(README.read_text(encoding="utf-8"))
    assert set(DOCS.glob("*.md")) - {index} <= listed
    assert all("(index.md)" in page.read_text(encoding="utf-8") for page in set(DOCS.glob("*.md")) - {index})


def test_anchors_follow_github() -> None:
    assert anchors("# Containers: Docker and Podman\n## Import (`bench import mlperf`)\n## A\n## A\n") == {
        "containers-docker-and-podman", "import-bench-import-mlperf", "a", "a-1"}


# -- the block `bench table` writes ------------------------------------------------------------------------
@pytest.fixture()
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout whose README has the markers, and results/runs with one CPU suite run of three members."""
    root = tmp_path / "checkout"
    suite_run(root / "results" / "runs", "current-smoke-new", "smoke", NEW_SMOKE, "2026-02-02", gpus=0,
              gpu_model=None, environment={"cpu": {"model": "Test CPU 9000", "logical": 2}})
    markers = f"{project_readme.START}\nold\n{project_readme.END}\n"
    (root / "README.md").write_text(f"# project\n\nbefore\n\n{markers}\nafter [docs](docs/index.md)\n",
                                    encoding="utf-8")
    monkeypatch.setattr(project_readme, "source_checkout", lambda: root)
    return root


def _stale_pages(outputs: generate.Outputs) -> list[str]:
    """`--check`'s lines about pages (the plots are not rendered here)."""
    return [line for line in generate.out_of_date(outputs) if ".png:" not in line]


def _build(root: Path, out: Path | None = None) -> generate.Outputs:
    runs = root / "results" / "runs"
    return generate.build(runs, out or root / "results" / "README.md", load_all(), with_images=False,
                          records=load_records(runs))


def test_bench_table_writes_the_answer_between_the_markers_only(checkout: Path) -> None:
    generate.write(_build(checkout))
    text = (checkout / "README.md").read_text(encoding="utf-8")
    before, rest = text.split(project_readme.START)
    block, after = rest.split(project_readme.END)
    assert before == "# project\n\nbefore\n\n" and after == "\n\nafter [docs](docs/index.md)\n"
    best = statistics.median(NEW_SMOKE["detectron2-current"])  # 0.92: ranked first, to three digits
    first = next(line for line in block.splitlines() if line.startswith("| 1 "))
    assert "detectron2-current" in first and f"{best:.3f}" in first
    assert "## Published table (2020)" in block and "(results/README.md)" in block
    for target in links(block):  # into results/, beside the README
        assert (checkout / target.partition("#")[0]).is_file(), target
    assert _stale_pages(_build(checkout)) == []


def test_check_names_a_stale_answer(checkout: Path) -> None:
    generate.write(_build(checkout))
    readme = checkout / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("detectron2-current", "edited by hand"))
    assert _stale_pages(_build(checkout)) == [f"{readme}: differs from what the records give"]


def test_a_users_own_table_writes_no_readme(checkout: Path, tmp_path: Path) -> None:
    before = (checkout / "README.md").read_bytes()
    generate.write(_build(checkout, tmp_path / "mine" / "README.md"))
    assert (tmp_path / "mine" / "README.md").is_file() and (checkout / "README.md").read_bytes() == before


def test_a_start_marker_without_its_end_is_one_error(checkout: Path) -> None:
    (checkout / "README.md").write_text(f"# project\n{project_readme.START}\nno end\n", encoding="utf-8")
    with pytest.raises(BenchError, match="README.md: the marker .* has no"):
        _build(checkout)
