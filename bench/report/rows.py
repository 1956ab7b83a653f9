"""Which rows the results table shows, as a pure function of the run records (and the recipes).

One row per implementation and hardware within a section: the latest ok record, or, when that record belongs
to a repeat group, the median of the group's ok records with n and the range. Sections never mix:
  * protocol rows, one section per protocol version (newest first), never ranked across versions;
  * comparable rows without a recorded protocol version (imported logs, for instance);
  * rows not comparable with the published table, one section per preset, not ranked: decided here from each
    record's facts (bench.report.comparability), never from the flag the record stored;
  * the latest attempts that measured nothing (failed, incomplete, ...), newer than the row they would
    replace.
Within a section, each hardware (GPU model x count, or a CPU model and its cores) gets its own table; the
ratio to Detectron2 is taken within it only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median, stdev

import pandas as pd

from bench.recipes import Recipe
from bench.records.provenance import is_stale
from bench.records.schema import RunRecord
from bench.report.comparability import not_comparable_because
from bench.vocabulary import MLPERF_FAMILY

BASELINE_FAMILY = "detectron2"


def is_mlperf(record: RunRecord) -> bool:
    """An imported MLPerf Training run: its own section, never ranked."""
    return record.family == MLPERF_FAMILY and "mlperf" in record.extra


@dataclass(frozen=True, order=True)
class Section:
    order: tuple[int, int]  # sort key: protocol versions newest first, then unversioned, then not comparable
    title: str
    ranked: bool
    intro: str


NOT_COMPARABLE_INTRO = ("Runs whose facts depart from the benchmark protocol (synthetic or unrecorded data, "
                        "another GPU or node count or window, a preset that is not comparable). They show "
                        "that the pipeline works; they are not ranked and have no ratio to Detectron2. Each "
                        "row's details say why.")


def section_of(record: RunRecord, recipes: dict[str, Recipe]) -> Section:
    if not_comparable_because(record, recipes):
        preset = f"{record.preset} preset" if record.preset else "no preset"
        return Section((2, 0), f"Not comparable ({preset})", False, NOT_COMPARABLE_INTRO)
    version = record.provenance.protocol_version
    if version is None:
        return Section((1, 0), "Protocol version not recorded", True,
                       "Comparable runs whose record names no protocol version (for instance logs imported "
                       "with `bench parse --record`). Ranked only among themselves.")
    return Section((0, -version), f"Protocol {version}", True,
                   f"Runs measured under benchmark protocol {version}. Rows of different protocol versions "
                   "are never ranked together.")


def cpu_of(record: RunRecord) -> str:
    """"AMD EPYC, 2 cores" from the environment the run recorded (logical cores: what the trainer could
    use)."""
    cpu = record.environment.get("cpu") or {}
    model = str(cpu.get("model") or "CPU model not recorded")
    cores = cpu.get("logical") or cpu.get("physical")
    return f"{model}, {cores} cores" if cores else model


def hardware_of(record: RunRecord) -> tuple[int, str]:
    """(GPU count, model): rows are compared only on the same model x count. A CPU run: (0, its CPU and
    cores, and its process count when several trained)."""
    if record.gpus == 0:  # several CPU processes (--procs, or nodes) are another hardware class than one
        processes = int((record.extra.get("scale") or {}).get("world_size") or 1)
        return 0, cpu_of(record) + (f", {processes} processes" if processes > 1 else "")
    model = record.gpu_model or record.environment.get("gpu_model") or ""
    return record.gpus, str(model)


def hardware_label(gpus: int, model: str) -> str:
    if gpus == 0:
        return f"CPU only: {model}"
    return f"{gpus} × {model or 'unknown GPU'}"


@dataclass
class Row:
    """One displayed row: a record, or the median of a repeat group."""

    section: Section
    hardware: tuple[int, str]
    record: RunRecord  # the latest record of the row
    directory: Path
    img_s: float | None
    n: int = 1
    low: float | None = None
    high: float | None = None
    stale: bool = False
    ratio: float | None = None
    ratio_error: float | None = None  # one standard deviation, propagated from both groups' spreads
    rank: int | None = None
    members: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    images_per_joule: float | None = None  # the median over the row's runs, only when every one has it

    @property
    def relative_sd(self) -> float:
        """The group's sample standard deviation over its median (0 for a single run)."""
        return stdev(self.values) / self.img_s if len(self.values) > 1 and self.img_s else 0.0


def frame(records: list[tuple[Path, RunRecord]], recipes: dict[str, Recipe]) -> pd.DataFrame:
    """One line per record, with the keys the selection groups on."""
    lines = []
    for directory, record in records:
        section = section_of(record, recipes)
        lines.append({
            "section": section, "order": (section.order, section.title), "hardware": hardware_of(record),
            "implementation": record.implementation, "created": record.created, "run_id": record.run_id,
            "group": record.repeat_group or f"run:{record.run_id}", "img_s": record.throughput_img_s,
            "record": record, "directory": directory})
    columns = ["section", "order", "hardware", "implementation", "created", "run_id", "group", "img_s",
               "record", "directory"]
    return pd.DataFrame(lines, columns=columns)


def select_rows(records: list[tuple[Path, RunRecord]], recipes: list[Recipe]) -> tuple[list[Row], list[Row]]:
    """(measured rows, latest unmeasured attempts) in display order."""
    df = frame([(d, r) for d, r in records if not is_mlperf(r)],  # MLPerf imports have their own section
               {r.name: r for r in recipes})
    measured: list[Row] = []
    unmeasured: list[Row] = []
    if df.empty:
        return measured, unmeasured
    df = df.sort_values(["created", "run_id"], kind="stable")
    for _, runs in df.groupby(["order", "hardware", "implementation"], sort=True):
        ok = runs[runs["img_s"].notna()]
        row = _measured_row(ok) if not ok.empty else None
        if row is not None:
            measured.append(row)
        last = runs.iloc[-1]
        if pd.isna(last["img_s"]) and (row is None or (last["created"], last["run_id"]) >
                                       (row.record.created, row.record.run_id)):
            unmeasured.append(Row(last["section"], last["hardware"], last["record"], last["directory"], None))
    _rank_and_ratio(measured)
    measured.sort(key=lambda r: (r.section, -r.hardware[0], r.hardware[1], r.rank or 0,
                                 r.record.implementation))
    unmeasured.sort(key=lambda r: (r.section, -r.hardware[0], r.hardware[1], r.record.implementation))
    return measured, unmeasured


def _measured_row(ok: pd.DataFrame) -> Row:
    latest = ok.iloc[-1]
    members = ok[ok["group"] == latest["group"]]
    values = [float(v) for v in members["img_s"]]
    row = Row(latest["section"], latest["hardware"], latest["record"], latest["directory"],
              float(pd.Series(values).median()), n=len(values), members=list(members["run_id"]),
              values=values)
    if row.n > 1:
        row.low, row.high = min(values), max(values)
    row.stale = any(is_stale(r) for r in members["record"])
    row.images_per_joule = median_images_per_joule(list(members["record"]))
    return row


def images_per_joule(record: RunRecord) -> float | None:
    """Window images / the window's energy on all GPUs (bench.measure.telemetry), where the record has it."""
    window = record.telemetry.window if record.telemetry is not None else None
    return window.images_per_joule if window is not None else None


def median_images_per_joule(records: list[RunRecord]) -> float | None:
    """The median img/J of the records, None unless every one of them has it."""
    values = [images_per_joule(r) for r in records]
    return median(values) if values and all(v is not None for v in values) else None


def _rank_and_ratio(rows: list[Row]) -> None:
    """Rank within (section, hardware) and divide by Detectron2 on the same hardware in the same section. A
    table of one row is not a ranking: it gets no rank."""
    tables: dict[tuple, list[Row]] = {}
    for row in rows:
        tables.setdefault((row.section, row.hardware), []).append(row)
    for (section, (_, model)), table in tables.items():
        table.sort(key=lambda r: (-r.img_s, r.record.implementation))
        if not section.ranked:
            continue  # no rank and no ratio between runs that are not comparable
        if len(table) > 1:  # one row is not a ranking
            for rank, row in enumerate(table, 1):
                row.rank = rank
        baseline = _baseline(table)
        if baseline is not None and model:  # an unknown GPU model is not "the same hardware"
            for row in table:
                row.ratio = row.img_s / baseline.img_s
                if row is not baseline and (row.n > 1 or baseline.n > 1):  # no spread from single runs
                    row.ratio_error = row.ratio * math.hypot(row.relative_sd, baseline.relative_sd)


def _baseline(table: list[Row]) -> Row | None:
    candidates = [r for r in table if r.record.family == BASELINE_FAMILY]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (r.record.variant != "published",
                                          r.record.implementation != BASELINE_FAMILY,
                                          r.record.implementation))
