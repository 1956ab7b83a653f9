"""The ranked section of a comparison suite (`bench run --suite NAME`): one table per suite run (records
sharing `extra.suite.id`), members ranked by median img/s over their repeats, and beside it "then vs now": the
published 2020 ratio to Detectron2 per family next to the measured one.

Significance: a two-sided Mann-Whitney U test over the repeats (bench.measure.stats: exact for small untied
samples; no SciPy). With 3 repeats each the smallest possible p is 0.1 (complete separation), so `~` marks a
member whose repeats are not completely separated from the next-ranked one's (p > ALPHA)."""

from __future__ import annotations

import math
import statistics

from bench.errors import BenchError
from bench.measure.stats import mann_whitney_two_sided
from bench.protocol.suite import load_suite
from bench.numbers import sig3
from bench.report.blocks import wrap
from bench.report.diagnostics import suite_lines
from bench.report.markdown import cell
from bench.vocabulary import RunStatus

ALPHA = 0.1


def _values(records) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in records:
        value = r.framework_timing.throughput_img_s
        if r.status is RunStatus.OK and value is not None:
            out.setdefault(r.implementation, []).append(value)
    return out


def ratio_with_error(values: list[float], base: list[float]) -> tuple[float, float | None]:
    """Median ratio and its standard error, from the relative standard errors of the two means (delta
    method)."""
    ratio = statistics.median(values) / statistics.median(base)
    if len(values) < 2 or len(base) < 2:
        return ratio, None
    rel = math.hypot(statistics.stdev(values) / statistics.mean(values) / math.sqrt(len(values)),
                     statistics.stdev(base) / statistics.mean(base) / math.sqrt(len(base)))
    return ratio, ratio * rel


def _suite_rows(records, baseline: str) -> list[str]:
    values = _values(records)
    ranked = sorted(values, key=lambda name: -statistics.median(values[name]))
    lines = ["| rank | implementation | median img/s | range | n | CV | ratio to " + cell(baseline)
             + " | vs next |",
             "|---|---|---|---|---|---|---|---|"]
    for rank, name in enumerate(ranked, 1):
        v = values[name]
        cv = f"{100 * statistics.stdev(v) / statistics.mean(v):.1f} %" if len(v) > 1 else "-"
        ratio = "1 (baseline)" if name == baseline else "-"
        if baseline in values and name != baseline:
            r, err = ratio_with_error(v, values[baseline])
            ratio = sig3(r) + (f" ± {sig3(err)}" if err is not None else "")
        mark = "-"
        if rank < len(ranked):
            p = mann_whitney_two_sided(v, values[ranked[rank]])
            mark = f"~ (p = {p:.2f})" if p > ALPHA else f"faster (p = {p:.2f})"
        lines.append(f"| {rank} | {cell(name)} | {sig3(statistics.median(v))} | "
                     f"{sig3(min(v))}-{sig3(max(v))} | {len(v)} | {cv} | {ratio} | {mark} |")
    return lines


def _then_vs_now(records, recipes, baseline: str) -> list[str]:
    values = _values(records)
    published = {r.family: r.reference.img_s for r in recipes if r.variant == "published" and r.reference}
    family_of = {r.name: r.family for r in recipes}
    base_family = family_of.get(baseline)
    if baseline not in values or base_family not in published:
        return []
    lines = ["| family | published 2020 ratio to Detectron2 | measured ratio to " + cell(baseline) + " |",
             "|---|---|---|"]
    for name in sorted(values):
        family = family_of.get(name)
        then = sig3(published[family] / published[base_family]) if family in published else "not published"
        now = statistics.median(values[name]) / statistics.median(values[baseline])
        lines.append(f"| {cell(family)} ({cell(name)}) | {then} | {sig3(now)} |")
    return lines


def render_suite_sections(records, recipes) -> list[str]:
    """Markdown lines: one ranked table (and its then-vs-now table) per suite run among `records`."""

    runs: dict[str, list] = {}
    for r in records:
        suite = (r.extra or {}).get("suite")
        if suite:
            runs.setdefault(suite["id"], []).append(r)
    out: list[str] = []
    for suite_id, members in sorted(runs.items()):
        info = members[0].extra["suite"]
        try:
            suite = load_suite(info["name"])
        except BenchError as exc:  # a record of a suite this bench does not ship: said, not ranked
            out += [f"## Suite {cell(info['name'])} ({cell(suite_id)})", "", cell(exc), ""]
            continue
        env = members[0].environment or {}
        cpu = (env.get("cpu") or {}).get("model") or "?"
        devices = (env.get("gpus") or {}).get("devices") or []
        cores = (env.get("cpu") or {}).get("logical") or "?"
        hardware = (", ".join(d.get("name") or "?" for d in devices) if devices
                    else f"CPU {cpu}, {cores} logical cores")
        out += [f"## Suite {cell(info['name'])}, preset {cell(info['preset'])} ({cell(suite_id)})", "",
                *wrap(f"Hardware: {cell(hardware)}. Repeats interleaved "
                      f"({cell(', '.join(info.get('members', [])))}). "
                      f"Whole-comparison deviation: {'; '.join(suite.deviations)}. `~`: not distinguishable "
                      "from the next-ranked member (two-sided Mann-Whitney U over the repeats, "
                      f"p > {ALPHA}); ratio ± its standard error (delta method on the means)."), ""]
        out += _suite_rows(members, suite.baseline) + [""]
        out += suite_lines([r for r in members if r.status is RunStatus.OK], suite.baseline)
        then_now = _then_vs_now(members, recipes, suite.baseline)
        if then_now:
            out += ["Then vs now (the published row of the same family, 8 V100s, protocol 1; "
                    "now: this suite run):", ""] + then_now + [""]
    return out
