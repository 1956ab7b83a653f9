"""How bench shows a measured number, in one place: the command line, the plots and the tables all print a
throughput, a ratio or a rate through `sig3`, so one number reads the same everywhere (0.0584 in the table is
0.0584 in `bench run`'s summary and in the plot's title, never 0.06 or 0.1); and a duration through
`duration`."""

from __future__ import annotations

import math

SIGNIFICANT = 3


def sig3(value: float | None) -> str:
    """Three significant digits, never an exponent: 0.0584, 0.305, 19.9, 28.0, 1230; "" for None, NaN or
    infinity."""
    if value is None or not math.isfinite(value):
        return ""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    digits = max(0, SIGNIFICANT - 1 - magnitude)
    rounded = round(value, SIGNIFICANT - 1 - magnitude)
    if rounded and math.floor(math.log10(abs(rounded))) > magnitude:  # 9.996 -> 10.0, not 10.00
        digits = max(0, digits - 1)
    return f"{rounded:.{digits}f}"


def duration(seconds: float) -> str:
    """A wall time as a person reads it: 45 s, 2 min 05 s, 1 h 02 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
