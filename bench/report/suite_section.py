"""The ranked section of a comparison suite (`bench run --suite NAME`): one table per suite run (records sharing
`extra.suite.id`), members ranked by median img/s over their repeats, and beside it "then vs now": the published
2020 ratio to Detectron2 per family next to the measured one.

Significance: an exact two-sided Mann-Whitney U test over the repeats (every split of the pooled values counted,
itertools; no SciPy). With 3 repeats each the smallest possible p is 0.1 (complete separation), so `~` marks a
member whose repeats are not completely separated from the next-ranked one's (p > ALPHA)."""

from __future__ import annotations

import itertools
import math
import statistics

from bench.logs.types import Status

ALPHA = 0.1


def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Exact two-sided p-value of the Mann-Whitney U statistic (ties count one half)."""
    def u_stat(xs, ys):
        return sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in xs for y in ys)

    pooled, n = a + b, len(a)
    observed = abs(u_stat(a, b) - len(a) * len(b) / 2)
    splits = list(itertools.combinations(range(len(pooled)), n))
    extreme = 0
    for chosen in splits:
        xs = [pooled[i] for i in chosen]
        ys = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        extreme += abs(u_stat(xs, ys) - len(xs) * len(ys) / 2) >= observed - 1e-12
    return extreme / len(splits)


def _values(records) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in records:
        value = r.framework_timing.throughput_img_s
        if r.status is Status.OK and value is not None:
            out.setdefault(r.implementation, []).append(value)
    return out


def ratio_with_error(values: list[float], base: list[float]) -> tuple[float, float | None]:
    """Median ratio and its standard error, from the relative standard errors of the two means (delta method)."""
    ratio = statistics.median(values) / statistics.median(base)
    if len(values) < 2 or len(base) < 2:
        return ratio, None
    rel = math.hypot(statistics.stdev(values) / statistics.mean(values) / math.sqrt(len(values)),
                     statistics.stdev(base) / statistics.mean(base) / math.sqrt(len(base)))
    return ratio, ratio * rel


def _suite_rows(records, baseline: str) -> list[str]:
    values = _values(records)
    ranked = sorted(values, key=lambda name: -statistics.median(values[name]))
    lines = ["| rank | implementation | median img/s | range | n | CV | ratio to " + baseline + " | vs next |",
             "|---|---|---|---|---|---|---|---|"]
    for rank, name in enumerate(ranked, 1):
        v = values[name]
        cv = f"{100 * statistics.stdev(v) / statistics.mean(v):.1f} %" if len(v) > 1 else "-"
        ratio = "1 (baseline)" if name == baseline else "-"
        if baseline in values and name != baseline:
            r, err = ratio_with_error(v, values[baseline])
            ratio = f"{r:.2f}" + (f" ± {err:.2f}" if err is not None else "")
        mark = "-"
        if rank < len(ranked):
            p = mann_whitney_p(v, values[ranked[rank]])
            mark = f"~ (p = {p:.2f})" if p > ALPHA else f"faster (p = {p:.2f})"
        lines.append(f"| {rank} | {name} | {statistics.median(v):.3f} | {min(v):.3f}-{max(v):.3f} | {len(v)} | {cv} "
                     f"| {ratio} | {mark} |")
    return lines


def _then_vs_now(records, recipes, baseline: str) -> list[str]:
    values = _values(records)
    published = {r.family: r.reference.img_s for r in recipes if r.variant == "published" and r.reference}
    family_of = {r.name: r.family for r in recipes}
    base_family = family_of.get(baseline)
    if baseline not in values or base_family not in published:
        return []
    lines = ["| family | published 2020 ratio to Detectron2 | measured ratio to " + baseline + " |", "|---|---|---|"]
    for name in sorted(values):
        family = family_of.get(name)
        then = f"{published[family] / published[base_family]:.2f}" if family in published else "not published"
        now = statistics.median(values[name]) / statistics.median(values[baseline])
        lines.append(f"| {family} ({name}) | {then} | {now:.2f} |")
    return lines


def render_suite_sections(records, recipes) -> list[str]:
    """Markdown lines: one ranked table (and its then-vs-now table) per suite run among `records`."""
    from bench.protocol.suite import load_suite

    runs: dict[str, list] = {}
    for r in records:
        suite = (r.extra or {}).get("suite")
        if suite:
            runs.setdefault(suite["id"], []).append(r)
    out: list[str] = []
    for suite_id, members in sorted(runs.items()):
        info = members[0].extra["suite"]
        suite = load_suite(info["name"])
        env = members[0].environment or {}
        cpu = (env.get("cpu") or {}).get("model", "?")
        devices = env.get("gpus", {}).get("devices") or []
        hardware = ", ".join(d.get("name", "?") for d in devices) if devices else f"CPU {cpu}, {(env.get('cpu') or {}).get('logical', '?')} logical cores"
        out += [f"## Suite {info['name']}, preset {info['preset']} ({suite_id})", "",
                f"Hardware: {hardware}. Repeats interleaved ({', '.join(info.get('members', []))}). "
                f"Whole-comparison deviation: {'; '.join(suite.deviations)}. `~`: not distinguishable from the "
                f"next-ranked member (exact Mann-Whitney U over the repeats, p > {ALPHA}); ratio ± its standard "
                "error (delta method on the means).", ""]
        out += _suite_rows(members, suite.baseline) + [""]
        then_now = _then_vs_now(members, recipes, suite.baseline)
        if then_now:
            out += ["Then vs now (the published row of the same family, 8 V100s, protocol 1; now: this suite run):",
                    ""] + then_now + [""]
    return out
