"""MLPerf Training systems imported with `bench import mlperf`: one row per system, the results page's summary
(the best system per accelerator generation and round), and the plot of every system (bench.report.mlperf_page
lists them all).

One row per system (a repeat group: the median of its ok runs, with the range and n). These rows are never
ranked and never share a table with protocol rows: their global batch, precision and GPU count are MLPerf's,
listed as deviations in each record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from bench.records.schema import RunRecord
from bench.numbers import sig3
from bench.report.blocks import window_of
from bench.report.document import Link, PageLink, Part, Table, heading, paragraph, shorten
from bench.report.plots import plot_style, png_bytes

PLOT_NAME = "mlperf.png"
SUMMARY_ROWS = 25
SYSTEM_WIDTH = 36  # characters of a system's name in the summary (a terminal's width)
# Accelerator generations in the order they appeared; the first pattern found in the model name wins.
GENERATIONS = [("TPU v3", r"tpu[- ]?v3"), ("TPU v4", r"tpu[- ]?v4"), ("V100 (Volta)", r"v100"),
               ("A100 (Ampere)", r"a100"), ("A30 (Ampere)", r"a30"), ("A40 (Ampere)", r"a40"),
               ("L40S (Ada)", r"l40s"), ("L40 (Ada)", r"l40"), ("H100 (Hopper)", r"h100")]
ORDER = ["TPU v3", "TPU v4", "V100 (Volta)", "A100 (Ampere)", "A30 (Ampere)", "A40 (Ampere)", "L40 (Ada)",
         "L40S (Ada)", "H100 (Hopper)"]


def generation(model: str | None) -> str:
    text = (model or "").lower()
    return next((name for name, pattern in GENERATIONS if re.search(pattern, text)), "other")


@dataclass
class SystemRow:
    record: RunRecord  # the latest run of the system (by run id)
    img_s: float | None  # median over the ok runs
    low: float | None
    high: float | None
    n: int  # ok runs
    runs: int  # all runs

    @property
    def per_accelerator(self) -> float | None:
        return self.img_s / self.record.gpus if self.img_s is not None else None


def system_rows(records: list[RunRecord]) -> list[SystemRow]:
    """One row per repeat group, sorted by MLPerf version, then img/s per accelerator (highest first)."""
    df = pd.DataFrame({"group": [r.repeat_group or r.run_id for r in records],
                       "run_id": [r.run_id for r in records], "img_s": [r.throughput_img_s for r in records],
                       "record": records})
    rows = []
    for _, runs in df.sort_values("run_id", kind="stable").groupby("group", sort=True):
        ok = runs["img_s"].dropna().astype(float)
        rows.append(SystemRow(runs["record"].iloc[-1], float(ok.median()) if len(ok) else None,
                              float(ok.min()) if len(ok) else None, float(ok.max()) if len(ok) else None,
                              len(ok), len(runs)))
    rows.sort(key=lambda r: (_version_key(r.record), -(r.per_accelerator or -1.0), r.record.run_id))
    return rows


def _version_key(record: RunRecord) -> tuple[int, ...]:
    return tuple(int(p) for p in str(record.extra["mlperf"]["version"]).split("."))


def best_per_accelerator(rows: list[SystemRow]) -> tuple[list[SystemRow], int]:
    """The measured system with the most img/s per accelerator for each accelerator generation and round, by
    generation then round: at most SUMMARY_ROWS of them (the newest rounds kept), and how many were left
    out."""
    best: dict[tuple[str, tuple[int, ...]], SystemRow] = {}
    for row in rows:
        key = (generation(row.record.gpu_model), _version_key(row.record))
        if row.per_accelerator is not None and (key not in best
                                                or row.per_accelerator > best[key].per_accelerator):
            best[key] = row
    kept = sorted(best, key=lambda key: key[1], reverse=True)[:SUMMARY_ROWS]
    order = ORDER + ["other"]
    kept.sort(key=lambda key: (order.index(key[0]), key[1]))
    return [best[key] for key in kept], len(best) - len(kept)


def accelerators_of(record: RunRecord) -> str:
    """nodes × accelerators per node."""
    env = record.environment
    return f"{env.get('nodes', '?')} × {env.get('accelerators_per_node', '?')}"


def windows_of(records: list[RunRecord]) -> str:
    windows = {window_of(r) for r in records if r.throughput_img_s is not None}
    return "; ".join(sorted(windows)) or "none measured"


def summary_parts(records: list[RunRecord], page: str) -> list[Part]:
    """The results page's section: the best system per accelerator and round, linked to `page` (every
    system); nothing without MLPerf records."""
    if not records:
        return []
    rows = system_rows(records)
    best, left_out = best_per_accelerator(rows)
    table = tuple((generation(r.record.gpu_model), f"v{r.record.extra['mlperf']['version']}",
                   (Link(shorten(r.record.title, SYSTEM_WIDTH), r.record.extra["mlperf"]["log_url"]),),
                   accelerators_of(r.record), sig3(r.img_s), sig3(r.per_accelerator)) for r in best)
    more = f" ({left_out} older pairs of accelerator and round left out here)" if left_out else ""
    intro = paragraph(
        f"The best system per accelerator and MLPerf round{more}, by img/s per accelerator (the median over "
        f"its runs; accelerators: nodes × per node), from {len(rows)} systems and {len(records)} runs "
        f"imported with `bench import mlperf` and measured over the same window ({windows_of(records)}) from "
        "their logs. MLPerf's own batch, precision and scale: never ranked against the runs above. Every "
        "system, with its exact accelerator: ", PageLink("MLPerf systems", page), ".")
    return [heading(2, "Real hardware: MLPerf Training (imported)"), intro,
            Table(("accelerator", "round", "system (its log)", "accelerators", "img/s", "per accelerator"),
                  table, left=3)]


def plot_png(records: list[RunRecord]) -> bytes:
    """img/s per accelerator of each measured system, by accelerator generation, coloured by MLPerf round."""
    rows = [r for r in system_rows(records) if r.per_accelerator is not None]
    present = [g for g in ORDER + ["other"] if any(generation(r.record.gpu_model) == g for r in rows)]
    versions = sorted({r.record.extra["mlperf"]["version"] for r in rows},
                      key=lambda v: tuple(map(int, v.split("."))))
    with plot_style():
        fig = Figure(figsize=(9, 4.5))
        ax = fig.subplots()
        cmap = matplotlib_colormap(len(versions))
        for index, version in enumerate(versions):
            mine = [r for r in rows if r.record.extra["mlperf"]["version"] == version]
            xs = [present.index(generation(r.record.gpu_model)) + (index - len(versions) / 2) * 0.06
                  for r in mine]
            ax.scatter(xs, [r.per_accelerator for r in mine], color=cmap[index], label=f"v{version}", s=18)
        ax.set_xticks(range(len(present)), present, fontsize=8)
        ax.set_ylabel("images / second per accelerator")
        ax.set_title("MLPerf Training Mask R-CNN, iterations 101-500 (median per system)", fontsize=9)
        ax.set_xlim(-0.6, max(len(present) - 0.4, 0.6))
        if versions:
            ax.legend(fontsize=7, title="MLPerf round", title_fontsize=7, loc="upper left")
        fig.tight_layout()
        return png_bytes(fig)


def matplotlib_colormap(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]
