"""What the hardware did, across records: the diagnoses (bench.measure.diagnosis) a group of runs carries,
which of them differ between two groups (`bench compare`, the suite section), and images per joule where every
run has it. Records without telemetry (all those made before it) give nothing here, so their reports do not
change."""

from __future__ import annotations

from bench.measure.diagnosis import DIAGNOSES
from bench.records.schema import RunRecord
from bench.numbers import sig3
from bench.report.document import Part, Table, paragraph
from bench.report.rows import median_images_per_joule


def has_telemetry(records: list[RunRecord]) -> bool:
    return any(r.telemetry is not None for r in records)


def diagnosis_counts(records: list[RunRecord]) -> dict[str, int]:
    """Diagnosis code -> how many of the records carry it."""
    return {code.value: n for code in DIAGNOSES
            if (n := sum(1 for r in records if any(w.code is code for w in r.warnings)))}


def counts_text(counts: dict[str, int], runs: int) -> str:
    return ", ".join(f"{code} ({n}/{runs})" for code, n in counts.items()) or "none"


def differences(base: list[RunRecord], new: list[RunRecord], base_name: str, new_name: str) -> list[str]:
    """One line per diagnosis present on one side only, then the img/J of both sides where both have it;
    nothing when neither side has telemetry."""
    if not (has_telemetry(base) or has_telemetry(new)):
        return []
    on_base, on_new = diagnosis_counts(base), diagnosis_counts(new)
    lines = []
    for code in [c.value for c in DIAGNOSES]:
        if (code in on_base) != (code in on_new):
            side, records, count = ((new_name, new, on_new) if code in on_new else (base_name, base, on_base))
            lines.append(f"{code}: {side} only ({count[code]} of {len(records)} run(s))")
    energy = median_images_per_joule(base), median_images_per_joule(new)
    if None not in energy:
        lines.append(f"img/J {sig3(energy[0])} -> {sig3(energy[1])} ({energy[1] / energy[0] - 1:+.1%})")
    return lines


def suite_parts(records: list[RunRecord], baseline: str) -> list[Part]:
    """For a suite run: each member's img/J and diagnoses, and which diagnoses differ from the baseline
    member's; nothing when no member has telemetry."""
    if not has_telemetry(records):
        return []
    members: dict[str, list[RunRecord]] = {}
    for r in records:
        members.setdefault(r.implementation, []).append(r)
    base = members.get(baseline, [])
    rows = []
    for name in sorted(members):
        runs = members[name]
        energy = median_images_per_joule(runs)
        differ = "" if name == baseline or not base else "; ".join(
            line for line in differences(base, runs, baseline, name) if not line.startswith("img/J"))
        rows.append((name, counts_text(diagnosis_counts(runs), len(runs)), differ or "-",
                     sig3(energy) if energy is not None else "-"))
    return [paragraph("What the hardware did in the windows (telemetry): images per joule (all GPUs' energy; "
                      "only where every repeat has it) and the diagnoses, with the runs that carry them:"),
            Table(("implementation", "diagnoses", f"differs from {baseline}", "img/J"), tuple(rows), left=3)]
