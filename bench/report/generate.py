"""Everything `bench table` writes, computed in memory first: the pages' text (the README and the pages beside
it, bench.report.pages) and the plots' bytes.

Writing replaces only files whose bytes changed and removes the timeline plots of records that no longer exist
and the pages that have nothing to show any more, all or nothing: every changed file is staged beside its
target first and put in place only when all are written (bench.files.staged_writes), so a read-only `plots/`
leaves every page as it was. Nothing is written or read through a symbolic link that leaves the README's
directory. `--check` compares the pages byte for byte and the set of plot files by name: PNG bytes can differ
between matplotlib and FreeType builds, the pages cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.recipes import Recipe, load_all
from bench.records.schema import RunRecord
from bench.files import read_input, staged_writes
from bench.records.store import MAX_RECORD_BYTES, load_records
from bench.report import plots
from bench.report.plots import THROUGHPUT_PNG
from bench.report.mlperf_section import PLOT_NAME as MLPERF_PNG, plot_png as mlperf_png
from bench.report.context import GENERATED_NOTE
from bench.report.mlperf_page import NAME as MLPERF_PAGE
from bench.report.pages import PAGE_NAMES, render_pages
from bench.report.runs_page import NAME as RUNS_PAGE
from bench.report.rows import is_mlperf, select_rows

PLOTS_DIR = "plots"


@dataclass
class Outputs:
    readme: Path
    pages: dict[Path, str]  # the README's text and each page's beside it
    images: dict[Path, bytes] = field(default_factory=dict)  # empty when rendering was skipped (--check)
    image_paths: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per record left out (file and field)

    @property
    def text(self) -> str:
        """The README's."""
        return self.pages[self.readme]

    @property
    def root(self) -> Path:
        """The directory every output lies in (the README's), but the repository's README."""
        return self.readme.parent

    @property
    def beside_root(self) -> tuple[Path, ...]:
        """The directories of the outputs outside the root: the checkout, for the repository's README.md
        (bench.report.project_readme); nothing else."""
        return tuple({path.parent for path in self.pages if path.parent != self.root})


def build(runs: Path, readme: Path, recipes: list[Recipe] | None = None, with_images: bool = True,
          records: list[tuple[Path, RunRecord]] | None = None) -> Outputs:
    records = load_records(runs) if records is None else records
    recipes = load_all() if recipes is None else recipes
    out_dir = readme.parent
    plotted = {r.run_id: r for _, r in records if r.series}
    pages = render_pages(records, recipes, readme, set(plotted))
    outputs = Outputs(readme, pages, skipped=records.skipped)
    # the plots the pages show: throughput.png on the all-runs page, mlperf.png on the MLPerf page
    summary = [name for name, page in ((THROUGHPUT_PNG, RUNS_PAGE), (MLPERF_PNG, MLPERF_PAGE))
               if out_dir / page in pages]
    outputs.image_paths = [out_dir / name for name in summary] + [_plot_path(out_dir, rid)
                                                                  for rid in sorted(plotted)]
    if with_images:
        outputs.images = {path: data for path, data in _images(records, recipes, out_dir, plotted).items()
                          if path in outputs.image_paths}
    return outputs


def summary_images(records: list[tuple[Path, RunRecord]], recipes: list[Recipe]) -> dict[str, bytes]:
    """throughput.png (and mlperf.png when there are MLPerf records), by file name."""
    measured, _ = select_rows(records, recipes)
    published = sorted(((r.name, r.reference.img_s, r.reference.gpus, r.reference.gpu_model)
                        for r in recipes if r.reference), key=lambda p: (-p[1], p[0]))
    images = {THROUGHPUT_PNG: plots.throughput_png(measured, published)}
    mlperf = [r for _, r in records if is_mlperf(r)]
    if mlperf:
        images[MLPERF_PNG] = mlperf_png(mlperf)
    return images


def _images(records: list[tuple[Path, RunRecord]], recipes: list[Recipe], out_dir: Path,
            plotted: dict[str, RunRecord]) -> dict[Path, bytes]:
    images = {out_dir / name: data for name, data in summary_images(records, recipes).items()}
    for run_id in sorted(plotted):
        images[_plot_path(out_dir, run_id)] = plots.timeline_png(plotted[run_id])
    return images


def _plot_path(out_dir: Path, run_id: str) -> Path:
    """plots/<run-id>.png; a run id that would place it anywhere else is refused (records are input too)."""
    path = out_dir / PLOTS_DIR / f"{run_id}.png"
    if path.parent != out_dir / PLOTS_DIR or ".." in path.parts:
        raise BenchError(f"run id {run_id!r}: not a plain name; its plot would leave {out_dir / PLOTS_DIR}")
    return path


def _current(outputs: Outputs, path: Path) -> bytes | None:
    """The bytes a generated file holds now (None when it does not exist); read as an input of the root."""
    if not path.exists() and not path.is_symlink():
        return None
    root = path.parent if path.parent in outputs.beside_root else outputs.root
    return read_input(path, MAX_RECORD_BYTES, "generated file", root=root)


def write(outputs: Outputs) -> list[Path]:
    """Write what changed, all or nothing; returns the paths written or removed."""
    changed = []
    wanted = {path: text.encode("utf-8") for path, text in outputs.pages.items()} | outputs.images
    with staged_writes(outputs.root, also=outputs.beside_root) as staging:
        for path, data in wanted.items():
            if _current(outputs, path) != data:
                staging.file(path, data)
                changed.append(path)
        for orphan in _orphan_plots(outputs) + _orphan_pages(outputs):
            staging.remove(orphan)
            changed.append(orphan)
    return changed


def out_of_date(outputs: Outputs) -> list[str]:
    """One line per generated file that differs from what the records give (empty when all is current)."""
    problems = []
    for path, text in outputs.pages.items():
        current = _current(outputs, path)
        if current is None:
            problems.append(f"{path}: missing")
        elif current != text.encode("utf-8"):
            problems.append(f"{path}: differs from what the records give")
    problems += [f"{path}: missing" for path in outputs.image_paths if not path.exists()]
    problems += [f"{path}: no record has this run id any more" for path in _orphan_plots(outputs)]
    problems += [f"{path}: the records give this page nothing to show any more"
                 for path in _orphan_pages(outputs)]
    return problems


def _orphan_pages(outputs: Outputs) -> list[Path]:
    """Pages bench generated beside the README that the records no longer fill. A file bench did not write (it
    does not start with the generated note) is never one, whatever its name."""
    note = GENERATED_NOTE.encode("utf-8")
    candidates = [outputs.root / name for name in PAGE_NAMES if outputs.root / name not in outputs.pages]
    return [path for path in candidates if path.is_file() and not path.is_symlink()
            and (_current(outputs, path) or b"").startswith(note)]


def _orphan_plots(outputs: Outputs) -> list[Path]:
    """Plots bench generated for records that are gone (and a page's plot, throughput.png or mlperf.png, where
    that page is gone). A file bench did not write (no `bench table` entry in its PNG metadata, or not a PNG)
    is never one, whatever its name."""
    directory = outputs.root / PLOTS_DIR
    candidates = [outputs.root / THROUGHPUT_PNG, outputs.root / MLPERF_PNG]
    candidates += sorted(directory.glob("*.png")) if directory.is_dir() else []
    expected = set(outputs.image_paths)
    return [p for p in candidates
            if p not in expected and p.is_file() and not p.is_symlink() and plots.generated_by_bench(p)]
