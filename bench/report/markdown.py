"""Markdown primitives of results/README.md: reference-style links, escaped cells, right-aligned tables."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

import pandas as pd


class References:
    """Reference-style link definitions ([r3]: runs/…/record.json), each target written once, at the end."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.targets = prefix, []

    def label(self, target: str) -> str:
        if target not in self.targets:
            self.targets.append(target)
        return f"{self.prefix}{self.targets.index(target) + 1}"

    def link(self, text: str, target: str) -> str:
        return f"[{text}][{self.label(link_target(target))}]"

    def render(self) -> list[str]:
        return [f"[{self.prefix}{i}]: {target}" for i, target in enumerate(self.targets, 1)]


_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # line breaks and the other control characters
# What markdown (GitHub's: tables, math, strikes) would act on: these characters, an underscore that is not
# inside a word (GFM never reads one inside a word as emphasis) and a `]` that would close a link text.
_ACTIVE = re.compile(r"[\\`*<>#|$~]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])|\](?=[(\[])")


def cell(text: object) -> str:
    """Text from a record or a recipe as markdown that shows exactly that text, in a table cell, a heading or
    a list item: one line (each run of line breaks or control characters becomes a space) and the characters
    markdown acts on escaped with a backslash (`|` included: a cell never splits)."""
    return _ACTIVE.sub(lambda m: "\\" + m[0], _BREAKS.sub(" ", str(text)))


def link_target(target: str) -> str:
    """A URL or a relative path as a link destination: white space, control characters and what would end or
    change the link percent-encoded."""
    return quote(target, safe="/:?#@!$&'()*+,;=%~-._[]")


def relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def markdown(df: pd.DataFrame, left: int = 1) -> str:
    """Every cell is already a formatted string (no number parsing: "62.0" stays "62.0"); the first `left`
    columns are left-aligned, the rest (the numbers) right-aligned."""
    align = ["left"] * left + ["right"] * (len(df.columns) - left)
    return df.to_markdown(index=False, disable_numparse=True, colalign=align)
