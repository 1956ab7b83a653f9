"""The "MLPerf Training (imported)" section of results/README.md and its plot, from records of
`bench import mlperf`.

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
from bench.report.blocks import window_of, wrap
from bench.report.markdown import References, cell, markdown
from bench.report.plots import plot_style, png_bytes

PLOT_NAME = "mlperf.png"
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


def render_section(records: list[RunRecord], plot: str | None = PLOT_NAME) -> list[str]:
    """The section's markdown lines (empty when no MLPerf record exists): settings stated once, seven columns,
    the latest log of each system as a reference-style link (its long URL written once, below the table)."""
    if not records:
        return []

    rows = system_rows(records)
    logs = References("m")
    lines = []
    for row in rows:
        r, mlperf = row.record, row.record.extra["mlperf"]
        env = r.environment
        img_s = sig3(row.img_s) + (f" ({sig3(row.low)}–{sig3(row.high)})" if row.n > 1 else "")
        lines.append({
            "System": cell(r.title), "Round": f"v{cell(mlperf['version'])}",
            "Accelerators": cell(f"{env.get('nodes', '?')} × {env.get('accelerators_per_node', '?')} × "
                                 f"{r.gpu_model or '?'}"),
            "img/s": img_s, "n": f"{row.n}/{row.runs}", "per accelerator": sig3(row.per_accelerator),
            "Log": logs.link("log", mlperf["log_url"]) if row.n else r.status.value})
    measured = sum(1 for row in rows if row.n)
    intro = ("Mask R-CNN runs of the MLPerf Training rounds, imported with `bench import mlperf` from the "
             f"public result repositories ({len(rows)} systems, {len(records)} runs, {measured} systems "
             "measured). img/s is the median over a system's runs of images in the window divided by its "
             "wall time, from the running means the log prints (trainer lines or tracked_stats), "
             "cross-checked against the events' own timestamps. n is ok runs / runs; the log is the system's "
             "latest run (a system without a measurement shows its status; its records say why). Never "
             "ranked, never compared with the rows above.")
    windows = ("; ".join(sorted({window_of(r) for r in records if r.throughput_img_s is not None}))
               or "none measured")
    settings = (f"**Window:** {windows} · **Data:** the MLPerf benchmark's (not named in the logs) · "
                "**Precision and global batch:** MLPerf's, per system (in each record) · **Stack:** the "
                "submitter's (in each record)")
    out = ["## MLPerf Training (imported)", "", *wrap(intro), "", *wrap(settings), ""]
    if plot:
        out += [f"![img/s per accelerator by accelerator generation]({plot})", ""]
    out += [markdown(pd.DataFrame(lines), left=3), "", *logs.render(), ""]
    return out


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
