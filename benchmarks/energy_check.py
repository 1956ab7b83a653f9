"""Energy of GPU run records against power x time, and images per joule per member (the GPU session's check).

For every record under RUNS (default results/runs) that ran on GPUs: its telemetry must hold the window's
energy for every GPU (NVML's energy counter, bench.telemetry.gpu), and that energy must agree with the mean
of the power samples x the window's seconds within --tolerance (5 %): two readings NVML takes independently
(the counter, and the instantaneous or one-second-average power). Prints one line per record and GPU, then
img/J per implementation (median over its records); exits 1 if a GPU record lacks energy or disagrees.

    .venv/bin/python benchmarks/energy_check.py [RUNS] [--tolerance 0.05] [--since ISO-DATE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.records.store import load_record  # noqa: E402


def check(record, tolerance: float) -> tuple[list[str], bool]:
    """Lines about the record's GPUs, and whether it passes."""
    name = f"{record.implementation} {record.run_id}"
    t = record.telemetry
    if t is None or t.window is None:
        why = "no telemetry" if t is None else (t.window_missing or "no window summary")
        return [f"FAIL {name}: {why}" + (f" ({t.gpu_unavailable})" if t and t.gpu_unavailable else "")], False
    w, lines, ok = t.window, [], bool(t.window.gpus)
    if not w.gpus:
        lines.append(f"FAIL {name}: no GPU in the window summary ({t.gpu_unavailable})")
    for g in w.gpus:
        if g.energy_j is None or g.power_w_mean is None:
            lines.append(f"FAIL {name} GPU {g.index}: energy {g.energy_j}, mean power {g.power_w_mean}")
            ok = False
            continue
        expected = g.power_w_mean * w.seconds
        off = g.energy_j / expected - 1
        passed = abs(off) <= tolerance
        ok &= passed
        lines.append(f"{'ok  ' if passed else 'FAIL'} {name} GPU {g.index} ({g.name}): counter "
                     f"{g.energy_j:.1f} J ({g.energy_source}), mean power {g.power_w_mean:.1f} W "
                     f"({g.power_source}) x {w.seconds:.2f} s = {expected:.1f} J: {off:+.2%}; "
                     f"{t.sampler.rate:.1f} samples/s")
    if w.images_per_joule is not None:
        lines.append(f"     {name}: {w.images} images / {w.energy_j:.1f} J = {w.images_per_joule:.4g} img/J")
    return lines, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="?", type=Path, default=ROOT / "results" / "runs")
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--since", default="", help="only records created at or after this ISO date/time")
    opts = ap.parse_args()
    records = [load_record(p.parent) for p in sorted(opts.runs.glob("*/record.json"))]
    records = [r for r in records if r.gpus > 0 and r.created >= opts.since and r.origin == "run"]
    if not records:
        print(f"no GPU run record under {opts.runs}")
        return 1
    passed, per_member = True, {}
    for record in records:
        lines, ok = check(record, opts.tolerance)
        passed &= ok
        print("\n".join(lines))
        window = record.telemetry.window if record.telemetry is not None else None
        value = window.images_per_joule if window is not None else None
        if value is not None:
            per_member.setdefault(record.implementation, []).append(value)
    print("\nimg/J per member (median over its records):")
    for name, values in sorted(per_member.items()):
        print(f"  {name}: {statistics.median(values):.4g} img/J (n = {len(values)})")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
