"""The plots beside results/README.md, rendered with matplotlib's Agg backend, without pyplot's global state.

* `throughput.png`: one bar per measured comparable row beside the published number of its implementation;
  a second panel, when there are any, for the rows not comparable with the published table.
* `plots/<run-id>.png`: seconds per iteration against iteration for every record with a series, the measured
  window shaded. They live beside the generated README (not in the run directories), so that `bench table`
  writes only generated files and a run directory keeps exactly what the run wrote.
Same inputs -> same bytes on one matplotlib installation: default style, fixed size and dpi, one fixed metadata
entry (matplotlib's PNG writer embeds no date; "Software" is removed; "Generator: bench table", without a version,
is added): that entry is how `bench table` knows a PNG in plots/ is one it generated, the only kind it removes.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from bench.records.schema import RunRecord  # noqa: E402
from bench.report.table import Row, hardware_label  # noqa: E402

DPI = 100
GENERATOR = ("Generator", "bench table")  # the PNG text entry that marks a plot `bench table` made
PNG_METADATA = {"Software": None, GENERATOR[0]: GENERATOR[1]}
MEASURED, PUBLISHED, SMOKE = "#1f77b4", "#bbbbbb", "#ff7f0e"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buffer.getvalue()


def generated_by_bench(path) -> bool:
    """True when the PNG at `path` carries the entry `bench table` writes into every plot it makes."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.text.get(GENERATOR[0]) == GENERATOR[1]
    except (OSError, UnidentifiedImageError, ValueError):
        return False


def _style():
    return matplotlib.rc_context(matplotlib.rcParamsDefault)


def throughput_png(rows: list[Row], published: list[tuple[str, float, str]]) -> bytes:
    """`published`: (implementation, img/s, hardware label) for every recipe with a reference."""
    comparable = [r for r in rows if r.section.ranked]
    other = [r for r in rows if not r.section.ranked]
    with _style():
        panels = 2 if other else 1
        height = 1.5 + 0.45 * max(len(comparable) + len(published), len(other), 1)
        fig = Figure(figsize=(10, height))
        axes = fig.subplots(1, panels, squeeze=False, width_ratios=[2, 1][:panels])[0]
        _comparable_panel(axes[0], comparable, published)
        if other:
            _other_panel(axes[1], other)
        fig.tight_layout()
        return _png(fig)


def _comparable_panel(ax, rows: list[Row], published: list[tuple[str, float, str]]) -> None:
    labels, measured, reference = [], [], []
    shown = set()
    for row in rows:
        labels.append(f"{row.record.implementation}\n{hardware_label(*row.hardware)}, {row.section.title}")
        measured.append(row.img_s)
        ref = next((p for p in published if p[0] == row.record.implementation), None)
        reference.append(ref[1] if ref else 0.0)
        shown.add(row.record.implementation)
    for name, img_s, hardware in published:
        if name not in shown:  # published but not measured yet
            labels.append(f"{name}\n{hardware} (published only)")
            measured.append(0.0)
            reference.append(img_s)
    positions = range(len(labels))
    ax.barh([p - 0.2 for p in positions], measured, height=0.4, color=MEASURED, label="measured")
    ax.barh([p + 0.2 for p in positions], reference, height=0.4, color=PUBLISHED, label="published")
    ax.set_yticks(list(positions), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("images / second")
    ax.set_title("Measured (protocol rows) beside published", fontsize=9)
    if labels:
        ax.legend(fontsize=7, loc="lower right")


def _other_panel(ax, rows: list[Row]) -> None:
    labels = [f"{r.record.implementation}\n{hardware_label(*r.hardware)}" for r in rows]
    positions = range(len(labels))
    ax.barh(list(positions), [r.img_s for r in rows], height=0.5, color=SMOKE)
    ax.set_yticks(list(positions), labels, fontsize=7)
    ax.set_xlabel("images / second")
    ax.set_ylim(max(len(labels), 4) - 0.5, -0.5)  # thin bars even for one row
    ax.set_title("Not comparable (smoke, synthetic data)", fontsize=9)


def timeline_png(record: RunRecord) -> bytes:
    """Seconds per iteration against iteration, the measured window shaded (the requested one when none)."""
    with _style():
        fig = Figure(figsize=(8, 3.5))
        ax = fig.subplots()
        x = [point[0] for point in record.series]
        y = [point[1] for point in record.series]
        ax.plot(x, y, marker=".", linewidth=1, color=MEASURED)
        window = record.framework_timing.window
        if window:
            ax.axvspan(window[0], window[1], color=MEASURED, alpha=0.12,
                       label=f"window {window[0] + 1}–{window[1]}")
        else:
            for edge in record.window_requested:
                ax.axvline(edge, color="grey", linestyle="--", linewidth=0.8)
        speed = record.throughput_img_s
        subtitle = f"{speed:.1f} img/s" if speed is not None else record.status.value
        ax.set_title(f"{record.implementation} · {record.run_id} · {subtitle}", fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel("seconds / iteration")
        # Scale to the window: start-up iterations can be 100x slower and would flatten the part that is measured.
        inside = [v for u, v in zip(x, y) if window and window[0] <= u <= window[1]] or y
        top = 1.5 * max(inside, default=1.0)
        ax.set_ylim(0, top)
        off_scale = [(u, v) for u, v in zip(x, y) if v > top]
        if off_scale:
            ax.annotate(f"off scale: up to {max(v for _, v in off_scale):.3g} s at start-up", xy=(0.01, 0.93),
                        xycoords="axes fraction", fontsize=7, color="grey")
        if window:
            ax.legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        return _png(fig)
