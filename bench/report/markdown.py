"""Markdown primitives of the results pages: reference-style links, escaped cells, right-aligned tables,
wrapped paragraphs, and the parts of a page (bench.report.document) as markdown."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from bench.report.document import (Code, Heading, Items, Link, PageLink, Paragraph, Part, Strong, Table,
                                   Text, spans)


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


WIDTH = 118  # of a wrapped paragraph; a table is as wide as its cells


def wrap(text: str, indent: str = "") -> list[str]:
    """A paragraph (or a list item, whose continuation lines are indented under its text) in lines of
    WIDTH."""
    hang = indent + ("  " if text.startswith("- ") else "")
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=hang,
                         break_long_words=False, break_on_hyphens=False) or [""]


def code(text: str, in_table: bool = False) -> str:
    """A code span (in a table cell, its `|` escaped: GFM would split the cell there); text with a backtick or
    a line break in it stays plain text (escaped)."""
    if "`" in text or not text.strip() or _BREAKS.search(text):
        return cell(text)
    return f"`{text.replace('|', chr(92) + '|') if in_table else text}`"


def inline(text: str | Text, links: References, in_table: bool = False, page_dir: str = "") -> str:
    """Spans as markdown: plain text escaped, code in backticks, links reference-style (defined at the page's
    end); a link to a file beside the results README (a page, a plot) through `page_dir` (e.g. "results/" from
    the project's README, bench.report.project_readme)."""
    out = []
    for span in spans(text):
        if isinstance(span, Code):
            out.append(code(span.text, in_table))
        elif isinstance(span, Strong):
            out.append(f"**{cell(span.text)}**")
        elif isinstance(span, Link):
            out.append(links.link(cell(span.text), span.target if "://" in span.target
                                  else page_dir + span.target))
        elif isinstance(span, PageLink):
            out.append(f"[{cell(span.text)}]({link_target(page_dir + span.page)})")
        else:
            out.append(cell(span))
    return "".join(out)


def render_parts(parts: list[Part], links: References, page_dir: str = "") -> list[str]:
    """The markdown lines of `parts`, each followed by a blank line (`page_dir`: see `inline`)."""
    lines: list[str] = []
    for part in parts:
        if isinstance(part, Heading):
            lines.append("#" * part.level + " " + inline(part.text, links, page_dir=page_dir))
        elif isinstance(part, Paragraph):
            lines += wrap(inline(part.text, links, page_dir=page_dir))
        elif isinstance(part, Items):
            for item in part.items:
                lines += wrap("- " + inline(item, links, page_dir=page_dir))
        elif isinstance(part, Table):
            frame = pd.DataFrame([[inline(c, links, True, page_dir) for c in row] for row in part.rows],
                                 columns=[cell(h) for h in part.header])
            lines.append(markdown(frame, left=part.left))
        else:
            lines.append(f"![{cell(part.alt)}]({link_target(part.target)})")
        lines.append("")
    return lines
