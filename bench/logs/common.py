"""Small helpers the format parsers share: printed numbers, `name: value` meters, timestamps, grid
bookkeeping.

Everything here is cheap: the live runner feeds every line, and a parser calls these only on lines that
already matched its progress regex.
"""

from __future__ import annotations

import re
import time

# A printed number, including what Python prints for non-finite floats (so that divergence is seen). Written
# so that a run of digits splits one way only: a failed match backtracks in linear, not quadratic, time.
NUMBER = r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|-?nan|-?inf|NaN|-?Infinity"
# A name starts where no name character precedes it, so a long word is scanned once, not from each position.
NAME = r"(?<![\w/.\-\[\]])[\w/.\-\[\]]+"
METER = re.compile(r"(" + NAME + r"): (" + NUMBER + r")(?= |,|$|\t)")
# `2020-05-14 10:03:10,512` (logging's default asctime) or `2023/03/13 10:31:41` (mmengine's file log)
FULL_STAMP = re.compile(r"^\[?(\d{4})[-/](\d\d)[-/](\d\d) (\d\d):(\d\d):(\d\d)(?:,(\d{3}))?")


def meters(text: str) -> dict[str, float]:
    """Every `name: number` pair in `text`, in order (`lr: 0.002  loss: 1.5 (2.0)` -> lr, loss)."""
    return {m[1]: float(m[2]) for m in METER.finditer(text)}


def losses(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if "loss" in k.lower() or k == "total_cost"}


def full_timestamp(line: str) -> float | None:
    """Epoch seconds (local time) of a leading date-and-time stamp with a year; None where there is none.

    Stamps without a year (`05/14 10:02:11`) stay None: the year cannot be told and a guess would mislead."""
    m = FULL_STAMP.match(line)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
    millis = int(m[7]) / 1000 if m[7] else 0.0
    return time.mktime((year, month, day, hour, minute, second, 0, 0, -1)) + millis


def position(match: re.Match[str]) -> tuple[int | None, int, int]:
    """(epoch, inner iteration, offset of the epoch) from a match whose groups 1-3 are `[epoch][iter/length]`
    of an epoch-based runner, or whose group 4 is the global `[iter/...]` of an iteration-based one (mmcv,
    mmengine)."""
    if match[1]:
        epoch, inner = int(match[1]), int(match[2])
        return epoch, inner, (epoch - 1) * int(match[3])
    return None, int(match[4]), 0


class Grid:
    """The logging interval of a format that prints every `interval` iterations and does not print it:
    the first progress line of a log is at inner iteration `interval` (mmcv, mmengine, SimpleDet), and a
    smaller positive gap between consecutive lines of one epoch corrects it."""

    def __init__(self) -> None:
        self.interval: int | None = None
        self._last: tuple[int, int] | None = None  # (epoch, inner) of the previous line

    def observe(self, epoch: int, inner: int) -> int:
        if self.interval is None:
            self.interval = max(1, inner)
        elif self._last is not None and self._last[0] == epoch and 0 < inner - self._last[1] < self.interval:
            self.interval = inner - self._last[1]
        self._last = (epoch, inner)
        return self.interval


class EpochOffsets:
    """Global iteration counts for logs that number iterations within an epoch without printing the epoch's
    length (mmdet `.log.json`, SimpleDet). Epoch 1 (or 0) is exact; a later epoch starts after the largest
    inner iteration seen in the epoch before it, which may fall short of the true length by less than one
    logging interval. The benchmark windows lie in the first epoch."""

    def __init__(self) -> None:
        self._epoch: int | None = None
        self._offset = 0
        self._largest = 0

    def offset(self, epoch: int) -> int:
        if self._epoch is None:
            self._epoch = epoch
        elif epoch == self._epoch + 1:
            self._offset += self._largest
            self._epoch, self._largest = epoch, 0
        elif epoch != self._epoch:  # another run or a jump: start counting again
            self._epoch, self._offset, self._largest = epoch, 0, 0
        return self._offset

    def seen(self, inner: int) -> None:
        self._largest = max(self._largest, inner)
