"""Turning raw bytes into logical lines: ANSI colours, CRLF, `\r`/`\b` progress-bar overwrites, gzip."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def apply_backspaces(text: str) -> str:
    if "\x08" not in text:
        return text
    out: list[str] = []
    for char in text:
        if char == "\x08":
            if out:
                out.pop()
        else:
            out.append(char)
    return "".join(out)


def clean(segment: str) -> str:
    """One logical line as a person reads it on a terminal: colours removed, backspaces applied."""
    return apply_backspaces(ANSI.sub("", segment)).rstrip()


def open_text(path: Path) -> Iterator[str]:
    """Raw lines of a log, gzip-compressed or not; undecodable bytes are replaced, never fatal."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        yield from handle


def logical_lines(raw: str) -> list[str]:
    """A raw line (CRLF or not) as its logical lines: a progress bar that rewrites itself with `\r`
    is one logical line per render. Empty renders are dropped."""
    segments = raw.rstrip("\n").rstrip("\r").split("\r")
    cleaned = [clean(segment) for segment in segments]
    return [line for line in cleaned if line] or [""]
