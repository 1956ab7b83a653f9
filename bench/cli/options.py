"""Option values every command parses the same way: the one home of their text formats."""

from __future__ import annotations

import math

from bench.errors import BenchError
from bench.vocabulary import MAX_ITERATION, count_problem

MAX_SECONDS = 1e7  # a --timeout or a --grace period of more than about 115 days is a typing error


def parse_window(text: str) -> tuple[int, int]:
    """'A:B' -> (A, B), with a clear error."""
    try:
        a, b = (int(part) for part in text.split(":"))
    except ValueError:
        raise BenchError(f"--window {text[:40]!r}: expected A:B with integers, e.g. 100:500") from None
    if not 0 <= a < b <= MAX_ITERATION:
        raise BenchError(f"--window {text[:40]!r}: need 0 <= A < B <= {MAX_ITERATION}")
    return a, b


def member_sources(values: list[str]) -> dict[str, str]:
    """`--source MEMBER=URL[,MEMBER=URL]` (repeatable): a source (URL or mirror) per suite member."""
    pairs = {}
    for item in (part for value in values for part in value.split(",") if part):
        member, eq, url = item.partition("=")
        if not eq or not member.strip() or not url.strip():
            raise BenchError(f"--source {item!r}: with --suite give MEMBER=URL "
                             "(e.g. detectron2-current=/mirror)")
        pairs[member.strip()] = url.strip()
    return pairs


def optional_window(text: str | None) -> tuple[int, int] | None:
    """An optional --window: None means the recipe's own."""
    return None if text is None else parse_window(text)


def seconds(value: float | None, option: str, *, zero: bool) -> float | None:
    """A duration option: None (not given), or a finite number of seconds above 0 (or at 0, with `zero`) and
    at most MAX_SECONDS; NaN or infinity never slips through as 'no limit'."""
    if value is None:
        return None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero) or value > MAX_SECONDS:
        raise BenchError(f"{option} {value!r}: need a number of seconds {'>= 0' if zero else 'above 0'} and "
                         f"at most {MAX_SECONDS:g}")
    return value


def count(value: int | None, option: str, low: int, high: int) -> int | None:
    """A count option: None (not given) or a whole number in [low, high]."""
    problem = None if value is None else count_problem(value, low, high)
    if problem:
        raise BenchError(f"{option}: {problem}")
    return value
