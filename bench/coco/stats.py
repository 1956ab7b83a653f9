"""`bench data stats`: what a COCO annotation file holds, and what COCOeval's area ranges will make of it.

Counting rule: areas are the annotations' `area` fields; crowd annotations (iscrowd=1) are counted in the
totals but left out of the area distribution and the buckets, as COCOeval ignores them in every range."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from bench.coco import ranges
from bench.files import write_atomic
from bench.coco.files import evaluated_areas, load_ground_truth

PERCENTILES = (0, 5, 25, 50, 75, 95, 100)


def dataset_stats(path: Path, plot: Path | None = None) -> dict[str, Any]:
    """Everything `bench data stats` prints, as one JSON-ready dict; with `plot`, also the histogram PNG."""
    warnings: list[str] = []
    gt = load_ground_truth(path, warnings=warnings)
    areas = evaluated_areas(gt)
    annotated = {ann["image_id"] for ann in gt["annotations"]}
    coco_counts = ranges.counts(areas, ranges.COCO_RANGES)
    total = int(areas.size)
    buckets = [{"label": label, "range": ranges.COCO_RANGES[label], "condition": ranges.condition(rng),
                "count": coco_counts[label], "share": coco_counts[label] / total if total else 0.0}
               for label, rng in ranges.COCO_RANGES.items() if label != "all"]
    empty = [b["label"] for b in buckets if b["count"] == 0]
    suggested = ranges.suggest(areas)
    result = {
        "file": str(path),
        "images": len(gt["images"]),
        "images_without_annotations": len({image["id"] for image in gt["images"]} - annotated),
        "annotations": len(gt["annotations"]),
        "crowd_annotations": len(gt["annotations"]) - total,
        "categories": len(gt["categories"]),
        "area": {
            "counted": total,
            "counting_rule": "the annotations' 'area' field; iscrowd=1 left out (COCOeval ignores crowd)",
            "percentiles": {str(q): float(v) for q, v in zip(PERCENTILES, np.percentile(areas, PERCENTILES))}
            if total else {},
        },
        "coco_buckets": buckets,
        "on_boundary": int(np.count_nonzero((areas == 32**2) | (areas == 96**2))),
        "empty_buckets": empty,
        "explanations": [ranges.empty_sentence(label, ranges.COCO_RANGES[label]) for label in empty],
        "suggested_area_rng": list(suggested.values()) if suggested else None,
        "suggested_counts": ranges.counts(areas, suggested) if suggested else None,
        "suggested_python": ranges.python_literal(suggested) if suggested else None,
        "caveat": ranges.COMPARABILITY_CAVEAT,
        "warnings": warnings,
    }
    if plot is not None:
        plot_histogram(plot, result, areas)
        result["plot"] = str(plot)
    return result


def format_stats(s: dict[str, Any]) -> str:
    area = s["area"]
    lines = [f"{s['file']}: {s['images']} images ({s['images_without_annotations']} without annotations), "
             f"{s['annotations']} annotations ({s['crowd_annotations']} crowd), {s['categories']} categories"]
    if area["percentiles"]:
        cells = "  ".join(f"p{q}={v:,.0f}" for q, v in area["percentiles"].items())
        lines.append(f"area (pixels², {area['counted']} non-crowd): {cells}")
    lines.append("COCO area buckets (COCOeval tests lo <= area <= hi: both ends inclusive):")
    for b in s["coco_buckets"]:
        lines.append(f"  {b['label']:<7}{ranges.range_text(b['range']):<17}{b['count']:>8}  "
                     f"{b['share']:7.1%}")
    if s["on_boundary"]:
        lines.append(f"  {s['on_boundary']} object(s) have area exactly 1024 or 9216: COCOeval evaluates "
                     "each in both neighbouring buckets, so the counts above add up to more than the total")
    lines += s["explanations"]
    if s["suggested_python"]:
        counts = ", ".join(f"{label} {n}" for label, n in s["suggested_counts"].items() if label != "all")
        lines.append("suggested dataset-specific ranges (boundaries near the tertiles of the area "
                     "distribution, midway between neighbouring areas; "
                     f"objects per bucket: {counts}):")
        lines.append(f"  {s['suggested_python']}")
        lines.append(f"  {s['caveat']}")
    lines += [f"warning: {w}" for w in s.get("warnings", [])]
    if s.get("plot"):
        lines.append(f"histogram written to {s['plot']}")
    return "\n".join(lines)


def plot_histogram(path: Path, s: dict[str, Any], areas: np.ndarray) -> None:
    """Area histogram (log-spaced bins) with COCO's boundaries (solid) and the suggested ones (dashed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg, without touching pyplot's global state
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positive = areas[areas > 0]
    if positive.size:
        low, high = positive.min(), max(positive.max(), positive.min() * 1.01)
        axes.hist(positive, bins=np.geomspace(low, high, 50), color="#4c72b0")
    axes.set_xscale("log")
    for edge, name in ((32**2, "32² = 1024"), (96**2, "96² = 9216")):
        axes.axvline(edge, color="black", linewidth=1.2, label=f"COCO boundary {name}")
    if s["suggested_area_rng"]:
        for edge in (s["suggested_area_rng"][2][0], s["suggested_area_rng"][3][0]):
            axes.axvline(edge, color="#dd8452", linestyle="--", linewidth=1.2,
                         label=f"suggested boundary {ranges.number(edge)}")
    axes.set_xlabel("annotation area (pixels², log scale)")
    axes.set_ylabel("non-crowd annotations")
    axes.set_title(f"{Path(s['file']).name[:80]}: {s['area']['counted']} objects", parse_math=False)
    axes.legend(fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())  # (its folder made when missing)
