"""The plots beside results/README.md, rendered with matplotlib's Agg backend, without pyplot's global state.

* `throughput.png`: one panel per hardware class (a GPU model, the published table's hardware, a CPU): GPU
  panels in img/s per GPU, so that a measured bar and a published bar share a unit; CPU panels in img/s,
  each on its own scale. Bars not comparable with the published table are orange, and say their section.
* `plots/<run-id>.png`: seconds per iteration against iteration for every record with a series, the measured
  window shaded. They live beside the generated README (not in the run directories), so that `bench table`
  writes only generated files and a run directory keeps exactly what the run wrote.
Same inputs -> same bytes on one matplotlib installation: default style, fixed size and dpi, one fixed
metadata entry (matplotlib's PNG writer embeds no date; "Software" is removed; "Generator: bench table",
without a version, is added): that entry is how `bench table` knows a PNG in plots/ is one it generated, the
only kind it removes.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from bench.records.schema import RunRecord  # noqa: E402
from bench.numbers import sig3  # noqa: E402
from bench.report.document import shorten  # noqa: E402
from bench.report.rows import Row, hardware_label  # noqa: E402

DPI = 100
THROUGHPUT_PNG = "throughput.png"  # beside the results pages
GENERATOR = ("Generator", "bench table")  # the PNG text entry that marks a plot `bench table` made
PNG_METADATA = {"Software": None, GENERATOR[0]: GENERATOR[1]}
MEASURED, PUBLISHED, SMOKE = "#1f77b4", "#bbbbbb", "#ff7f0e"


def png_bytes(fig: Figure) -> bytes:
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


LABEL_LIMIT = 60  # characters of a label drawn from a record: longer names are cut, never laid out whole


def plot_style():
    """Matplotlib's defaults, with mathtext off: a name with `$...$` in it is drawn as written, never parsed
    as TeX (which can fail, or take long, on hostile text)."""
    return matplotlib.rc_context({**matplotlib.rcParamsDefault, "text.parse_math": False})


def label(text: object, limit: int = LABEL_LIMIT) -> str:
    """Text from a record as a plot label: one line, at most `limit` characters (cut with an ellipsis)."""
    return shorten(text, limit)


def throughput_png(rows: list[Row], published: list[tuple[str, float, int, str]]) -> bytes:
    """One panel per hardware class, in one unit per panel: GPU panels in img/s per GPU (measured and
    published divided by their own GPU counts, so they may stand together), CPU panels in img/s of the whole
    machine, each on its own scale. `published`: (implementation, img/s, GPUs, GPU model) for every recipe
    with a reference."""
    panels = _panels(rows, published)
    with plot_style():
        heights = [max(len(bars), 2) for _, _, bars in panels] or [2]
        fig = Figure(figsize=(9, 1.2 + 0.32 * sum(heights) + 0.7 * len(heights)), layout="constrained")
        axes = fig.subplots(len(heights), 1, squeeze=False, height_ratios=heights)[:, 0]
        for ax, (title, unit, bars) in zip(axes, panels):
            _bar_panel(ax, title, unit, bars)
        if not panels:
            axes[0].set_axis_off()
            axes[0].set_title("No measured rows and no published table", fontsize=9)
        return png_bytes(fig)


Bar = tuple[str, float, str]  # label, value, colour


def _panels(rows: list[Row],
            published: list[tuple[str, float, int, str]]) -> list[tuple[str, str, list[Bar]]]:
    """(title, unit, bars) per hardware class: each GPU model, the published table, each CPU."""
    by_class: dict[str, list[Bar]] = {}
    units: dict[str, str] = {}
    for row in rows:
        gpus, model = row.hardware
        colour = MEASURED if row.section.ranked else SMOKE
        name = label(f"{row.record.implementation} ({gpus} GPU{'s' if gpus > 1 else ''}, {row.section.title})"
                     if gpus else f"{row.record.implementation} ({row.section.title})", 2 * LABEL_LIMIT)
        key = label(f"GPU: {model or 'unknown GPU'}" if gpus else f"CPU only: {model}", 2 * LABEL_LIMIT)
        units[key] = "images / second per GPU" if gpus else "images / second (whole CPU, no GPU)"
        by_class.setdefault(key, []).append((name, row.img_s / gpus if gpus else row.img_s, colour))
    for name, img_s, gpus, model in published:
        key = label(f"GPU: {model} (published)", 2 * LABEL_LIMIT)
        units[key] = "images / second per GPU"
        by_class.setdefault(key, []).append((label(f"{name} (published, {hardware_label(gpus, model)})"),
                                             img_s / gpus, PUBLISHED))
    order = sorted(by_class, key=lambda k: (k.startswith("CPU"), k))
    return [(key, units[key], by_class[key]) for key in order]


def _bar_panel(ax, title: str, unit: str, bars: list[Bar]) -> None:
    positions = list(range(len(bars)))
    values = [value for _, value, _ in bars]
    ax.barh(positions, values, height=0.6, color=[colour for _, _, colour in bars])
    ax.set_yticks(positions, [name for name, _, _ in bars], fontsize=7)
    ax.set_ylim(max(len(bars), 2) - 0.5, -0.5)  # thin bars even for one row
    top = max(values, default=1.0) or 1.0  # (an all-zero panel still gets an axis)
    ax.set_xlim(0, top * 1.18)  # room for the value printed after each bar
    for position, value in zip(positions, values):
        ax.annotate(sig3(value), (value, position), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=7)
    ax.set_xlabel(unit, fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")


def timeline_png(record: RunRecord) -> bytes:
    """Seconds per iteration against iteration, the measured window shaded (the requested one when none)."""
    with plot_style():
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
        subtitle = f"{sig3(speed)} img/s" if speed is not None else record.status.value
        ax.set_title(label(f"{record.implementation} · {record.run_id} · {subtitle}", 2 * LABEL_LIMIT),
                     fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel("seconds / iteration")
        # Scale to the window: start-up iterations can be 100x slower and would flatten the part that is
        # measured.
        inside = [v for u, v in zip(x, y) if window and window[0] <= u <= window[1]] or y
        top = 1.5 * max(inside, default=1.0) or 1.0  # an all-zero series still gets an axis
        ax.set_ylim(0, top)
        off_scale = [(u, v) for u, v in zip(x, y) if v > top]
        if off_scale:
            ax.annotate(f"off scale: up to {max(v for _, v in off_scale):.3g} s at start-up", xy=(0.01, 0.93),
                        xycoords="axes fraction", fontsize=7, color="grey")
        if window:
            ax.legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        return png_bytes(fig)
