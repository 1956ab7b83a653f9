"""The all-runs page as data, shared by its markdown (bench.report.runs_page) and the HTML report
(bench.report.html): per section and hardware a block with its settings stated once, its rows, and per row the
details (facts, deviations, warnings) that the table's cells only count."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.errors import BenchError
from bench.numbers import sig3
from bench.protocol.spec import CURRENT_VERSION, load_protocol
from bench.recipes import Recipe
from bench.records.schema import RunRecord
from bench.report.comparability import not_comparable_because
from bench.report.rows import Row, Section, hardware_label
from bench.vocabulary import WarningCode

BUSY_MARK = "(busy host)"  # in the img/s cell of a row measured while other processes kept the machine busy
COLUMNS = ("Implementation", "img/s", "n", "vs Detectron2", "Published", "Deviations", "Record")
ENERGY_COLUMN = "img/J"  # after img/s, in a table where every row has it (telemetry with GPU energy)
STALE_NOTE = "the recipe or its patches changed since this row was measured; `bench run --stale` re-runs it"
# the framework shown is the first of these the record has
FRAMEWORK_PACKAGES = ("torch", "tensorflow-gpu", "tensorflow", "mxnet", "keras")


def img_s_text(row: Row) -> str:
    text = sig3(row.img_s)
    if row.n > 1:
        text += f" ({sig3(row.low)}–{sig3(row.high)})"
    busy = f" {BUSY_MARK}" if host_was_busy(row.record) else ""
    return text + (" ⚠" if row.record.warnings else "") + busy


def host_was_busy(record: RunRecord) -> bool:
    """Other processes kept the machine busy around the run (its `host-busy` warning says how busy)."""
    return any(w.code == WarningCode.HOST_BUSY for w in record.warnings)


def ratio_text(row: Row) -> str:
    if row.ratio is None:
        return ""
    if row.ratio_error is None:
        return sig3(row.ratio)
    return f"{sig3(row.ratio)} ± {sig3(row.ratio_error)}"


def published_of(record: RunRecord, recipes: dict[str, Recipe]) -> dict | None:
    if record.reference:
        return record.reference
    recipe = recipes.get(record.implementation)
    return recipe.reference.model_dump() if recipe and recipe.reference else None


def framework_of(record: RunRecord) -> str:
    """The framework the run's environment recorded (never the recipe's claim)."""
    packages = record.environment.get("frameworks") or record.environment.get("packages") or {}
    for name in FRAMEWORK_PACKAGES:
        version = packages.get(name) or next((v for k, v in packages.items() if k.startswith(name + "-cu")),
                                             None)
        if version:
            return f"{name} {version}"
    return "not recorded"


def data_of(record: RunRecord) -> str:
    if record.dataset is None:
        return "not recorded"
    if record.dataset.get("synthetic", True):
        params = record.dataset.get("synthetic_params") or {}
        shown = ", ".join(f"{k} {v}" for k, v in sorted(params.items()))
        return f"synthetic ({shown})" if shown else "synthetic"
    return f"real, {record.dataset.get('path', 'path not recorded')}"


def window_of(record: RunRecord) -> str:
    window = record.framework_timing.window or record.window_requested
    return f"iterations {window[0] + 1}–{window[1]}" if window else "not recorded"


def precision_of(record: RunRecord) -> str:
    """A deviation the compliance check recorded, else the protocol's own precision (which the check held it
    to)."""
    said = next((d for d in record.deviations if d.lower().startswith("precision")), None)
    if said:
        return said.split(" ", 1)[-1].lstrip(": ")
    try:
        protocol = load_protocol(record.provenance.protocol_version or CURRENT_VERSION)
    except BenchError:
        return "not recorded"
    setting = protocol.settings.get("precision")
    return f"{setting.value} (protocol, no deviation recorded)" if setting else "not recorded"


def commit_of(record: RunRecord) -> tuple[str, str | None]:
    """(short sha, URL or None)."""
    sha = record.provenance.commit
    if not sha:
        return "", None
    repo = (record.provenance.repo or "").removesuffix(".git").rstrip("/")
    if repo.startswith(("https://github.com/", "https://gitlab.com/")):
        return sha[:7], f"{repo}/commit/{sha}"
    return sha[:7], None


@dataclass
class Detail:
    """A row's details: what its cells only count or leave out."""

    anchor: str
    row: Row
    items: list[tuple[str, str]]  # (kind, text): not comparable, deviation, warning, stale


@dataclass
class Block:
    section: Section
    hardware: tuple[int, str]
    anchor: str
    settings: list[tuple[str, str]]
    rows: list[Row]
    details: list[Detail]

    @property
    def title(self) -> str:
        return f"{self.section.title} · {hardware_label(*self.hardware)}"

    @property
    def energy(self) -> bool:
        """Every row has images per joule: the table shows them."""
        return all(row.images_per_joule is not None for row in self.rows)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*COLUMNS[:2], ENERGY_COLUMN, *COLUMNS[2:]) if self.energy else COLUMNS

    def cells(self, row: Row, cells: list[str]) -> list[str]:
        """A row's cells in COLUMNS order, with its img/J after img/s where the table shows it."""
        return [*cells[:2], sig3(row.images_per_joule), *cells[2:]] if self.energy else cells


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def setting(rows: list[Row], of) -> str:
    """One value when every row shares it, else each value with the rows that have it."""
    values: dict[str, list[str]] = {}
    for row in rows:
        values.setdefault(of(row.record), []).append(row.record.implementation)
    if len(values) == 1:
        return next(iter(values))
    return "; ".join(f"{value} ({', '.join(names)})" for value, names in values.items())


def details_of(row: Row, anchor: str, recipes: dict[str, Recipe]) -> Detail:
    record = row.record
    items = [("not comparable", reason) for reason in not_comparable_because(record, recipes)]
    items += [("deviation", text) for text in record.deviations]
    items += [("warning", f"{w.message} ({w.remedy})") for w in record.warnings]
    if row.stale:
        items.append(("stale", STALE_NOTE))
    return Detail(anchor, row, items)


def blocks(rows: list[Row], recipes: dict[str, Recipe]) -> list[Block]:
    grouped: dict[tuple[Section, tuple[int, str]], list[Row]] = {}
    for row in rows:
        grouped.setdefault((row.section, row.hardware), []).append(row)
    out, numbered = [], 0
    for (section, hardware), members in grouped.items():
        anchor = slug(f"{section.title} {hardware_label(*hardware)}")
        settings = [("Hardware", hardware_label(*hardware)), ("Data", setting(members, data_of)),
                    ("Precision", setting(members, precision_of)), ("Stack", setting(members, framework_of)),
                    ("Window", setting(members, window_of))]
        details = [details_of(row, f"row-{numbered + k}", recipes) for k, row in enumerate(members, 1)]
        numbered += len(members)
        out.append(Block(section, hardware, anchor, settings, members, details))
    return out
