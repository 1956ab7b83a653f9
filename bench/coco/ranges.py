"""COCOeval's area ranges, exactly as pycocotools applies them, and a dataset-specific suggestion.

pycocotools (cocoeval.py, `Params.setDetParams` and `evaluateImg`) uses
    areaRng = [[0, 1e5**2], [0, 32**2], [32**2, 96**2], [96**2, 1e5**2]]  labels all, small, medium, large
and ignores a ground truth for a range when `area < lo or area > hi`: both ends are INCLUSIVE. An object
whose `area` is exactly 1024 is therefore evaluated in both 'small' and 'medium' (and one at exactly 9216 in
both 'medium' and 'large'); the usual "small < 32²" is true of everything below 1024 only. The area is the
annotation's `area` field (the mask area in COCO), for bbox evaluation too, never the box's w*h.
Crowd annotations (iscrowd=1) are ignored for every range; a range whose only objects are crowd prints -1.
"""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError

UPPER = 1e5**2  # COCOeval's upper edge for 'all' and 'large'
COCO_RANGES: dict[str, list[float]] = {"all": [0, UPPER], "small": [0, 32**2], "medium": [32**2, 96**2],
                                       "large": [96**2, UPPER]}

COMPARABILITY_CAVEAT = ("AP/AR for small/medium/large computed with these ranges are NOT comparable with the "
                        "AP_S/AP_M/AP_L that papers report (COCO's fixed 32²/96² ranges); compare them only "
                        "between models evaluated on the same ground truth with the same ranges. AP, AP50, "
                        "AP75 and AR over 'all' are unaffected.")


def number(value: float) -> str:
    """A boundary as a Python literal: 1024, 812.5, 1e10."""
    if value == UPPER:
        return "1e10"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def range_text(rng: list[float]) -> str:
    return f"[{number(rng[0])}, {number(rng[1])}]"


def condition(rng: list[float]) -> str:
    """Which areas fall in the range, in words ('area <= 1024'), as COCOeval tests it."""
    lo, hi = rng
    if lo <= 0 and hi >= UPPER:
        return "any area"
    if lo <= 0:
        return f"area <= {number(hi)}"
    if hi >= UPPER:
        return f"area >= {number(lo)}"
    return f"{number(lo)} <= area <= {number(hi)}"


def counts(areas: np.ndarray, ranges: dict[str, list[float]]) -> dict[str, int]:
    """Non-crowd ground truths COCOeval evaluates in each range (an object on a boundary counts in both)."""
    return {label: int(np.count_nonzero((areas >= lo) & (areas <= hi))) for label, (lo, hi) in ranges.items()}


def empty_sentence(label: str, rng: list[float]) -> str:
    return f"AP/AR for '{label}' will print -1.000: no ground-truth object has {condition(rng)}"


def python_literal(ranges: dict[str, list[float]]) -> str:
    pairs = ", ".join(f"[{number(lo)}, {number(hi)}]" for lo, hi in ranges.values())
    return f"cocoEval.params.areaRng = [{pairs}]"


def suggest(areas: np.ndarray) -> dict[str, list[float]] | None:
    """Dataset-specific ranges: two boundaries near the tertiles of the (non-crowd) area distribution, so each
    bucket holds about a third of the objects. Each boundary is the midpoint between two consecutive distinct
    areas (with the fewest decimals that keep it strictly between them), so no object lies on a boundary and
    every object is in exactly one bucket; the splits are chosen among distinct areas, so none is empty. With
    fewer than three distinct areas the boundaries are the areas themselves, and COCOeval's inclusive ends put
    the objects at a boundary in both neighbouring buckets, again leaving none empty. None without any
    area."""
    if areas.size == 0:
        return None
    ordered = np.sort(areas)
    distinct = np.unique(ordered)
    if distinct.size < 3:
        edges = [float(distinct[0]), float(distinct[-1])]
    else:
        below = np.searchsorted(ordered, distinct, side="right")  # objects with area <= each distinct area
        first = _split(below, ordered.size / 3, 1, distinct.size - 2)
        second = _split(below, 2 * ordered.size / 3, first + 1, distinct.size - 1)
        edges = [_between(distinct[first - 1], distinct[first]),
                 _between(distinct[second - 1], distinct[second])]
    ranges = {"all": [0, UPPER], "small": [0, edges[0]], "medium": edges, "large": [edges[1], UPPER]}
    assert all(counts(ordered, ranges).values()), ranges
    return ranges


def _split(below: np.ndarray, target: float, lowest: int, highest: int) -> int:
    """The split s (between distinct areas s-1 and s) in [lowest, highest] leaving closest to `target`
    below."""
    candidates = np.arange(lowest, highest + 1)
    return int(candidates[np.argmin(np.abs(below[candidates - 1] - target))])


def _between(low: float, high: float) -> float:
    """The midpoint of two areas, with the fewest decimals that keep it strictly between them."""
    middle = (float(low) + float(high)) / 2
    for digits in range(7):
        if low < round(middle, digits) < high:
            return float(round(middle, digits))
    return middle


def parse(text: str, areas: np.ndarray) -> tuple[str, dict[str, list[float]]]:
    """--area-rng: 'coco', 'auto' (tertiles of these areas) or 'A,B,C', the lower edges of small, medium and
    large (large runs to 1e10; COCO's own is 0,1024,9216). Returns (mode, ranges)."""
    if text == "coco":
        return "coco", {label: list(rng) for label, rng in COCO_RANGES.items()}
    if text == "auto":
        ranges = suggest(areas)
        if ranges is None:
            raise BenchError("--area-rng auto: the ground truth has no non-crowd annotation to take "
                             "tertiles of")
        return "auto", ranges
    try:
        edges = [float(part) for part in text.split(",")]
    except ValueError:
        edges = []
    if len(edges) != 3 or edges[0] < 0 or not edges[0] < edges[1] < edges[2] < UPPER:
        raise BenchError(f"--area-rng {text!r}: expected coco, auto or A,B,C with 0 <= A < B < C "
                         "(lower edges of small, medium, large in pixels², e.g. 0,1024,9216)")
    a, b, c = edges
    return "custom", {"all": [0, UPPER], "small": [a, b], "medium": [b, c], "large": [c, UPPER]}
