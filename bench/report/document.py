"""What a results page says, written once and rendered twice: as markdown (`bench table`: results/*.md,
bench.report.markdown) and as HTML (`bench report --html`, bench.report.html).

A page is a list of parts (headings, paragraphs, tables, lists, images). Text is a tuple of spans: a plain
string (bench's words or a value from a record: each renderer escapes it, so it shows as written), `Code`
(shown as code: backticks in markdown, <code> in HTML) and `Link`. `prose()` turns bench's own sentences, with
their code marked by backticks, into spans; text from a record never goes through it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Link:
    text: str
    target: str  # a URL, or a file beside the page


@dataclass(frozen=True)
class PageLink:
    """A link to another page `bench table` writes (a file beside the results README); in the HTML report,
    where every page is a section of index.html, a link to that section."""

    text: str
    page: str  # its file name, e.g. "suites.md"

    @property
    def anchor(self) -> str:
        return anchor_of(self.page)


def anchor_of(page: str) -> str:
    """The id of a page's section in the HTML report: its file name without .md."""
    return page.removesuffix(".md")


Span = str | Code | Strong | Link | PageLink
Text = tuple[Span, ...]


def prose(text: str) -> Text:
    """bench's own sentence as spans: what stands between backticks is code (never text from a record)."""
    return tuple(Code(part) if index % 2 else part for index, part in enumerate(text.split("`")) if part)


def settings(pairs: list[tuple[str, str]]) -> Text:
    """"**Name:** value · **Name:** value": settings stated once above a table (values as plain text)."""
    out: list[Span] = []
    for name, value in pairs:
        out += [" · "] if out else []
        out += [Strong(f"{name}:"), f" {value}"]
    return tuple(out)


def spans(text: str | Text) -> Text:
    """A plain string as one span; spans as they are."""
    return (text,) if isinstance(text, str) else text


def shorten(text: object, limit: int) -> str:
    """One line of at most `limit` characters (cut with an ellipsis)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Heading:
    level: int
    text: Text


@dataclass(frozen=True)
class Paragraph:
    text: Text


@dataclass(frozen=True)
class Items:
    """A bulleted list, one text per item."""

    items: tuple[Text, ...]


@dataclass(frozen=True)
class Table:
    """Cells are texts (a plain string is one span); the columns after the first `left` are right-aligned."""

    header: tuple[str, ...]
    rows: tuple[tuple[str | Text, ...], ...]
    left: int = 1


@dataclass(frozen=True)
class Image:
    alt: str
    target: str  # a file beside the page


Part = Heading | Paragraph | Items | Table | Image


def heading(level: int, text: str) -> Heading:
    return Heading(level, prose(text))


def paragraph(*text: str | Span | Text) -> Paragraph:
    """A paragraph of bench's prose (strings, read by `prose`), spans and texts (kept as they are: a value
    from a record goes in as a one-span tuple, `(value,)`)."""
    out: list[Span] = []
    for part in text:
        out += prose(part) if isinstance(part, str) else part if isinstance(part, tuple) else [part]
    return Paragraph(tuple(out))
