"""Markdown primitives of results/README.md: reference-style links, escaped cells, right-aligned tables."""

from __future__ import annotations

import os
from pathlib import Path

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
        return f"[{text}][{self.label(target)}]"

    def render(self) -> list[str]:
        return [f"[{self.prefix}{i}]: {target}" for i, target in enumerate(self.targets, 1)]


def cell(text: object) -> str:
    return str(text).replace("\n", " ").replace("|", "\\|")


def relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def markdown(df: pd.DataFrame, left: int = 1) -> str:
    """Every cell is already a formatted string (no number parsing: "62.0" stays "62.0"); the first `left`
    columns are left-aligned, the rest (the numbers) right-aligned."""
    align = ["left"] * left + ["right"] * (len(df.columns) - left)
    return df.to_markdown(index=False, disable_numparse=True, colalign=align)
