"""Option values every command parses the same way: the one home of their text formats."""

from __future__ import annotations

from bench.errors import BenchError


def parse_window(text: str) -> tuple[int, int]:
    """'A:B' -> (A, B), with a clear error."""
    try:
        a, b = (int(part) for part in text.split(":"))
    except ValueError:
        raise BenchError(f"--window {text!r}: expected A:B with integers, e.g. 100:500") from None
    if not 0 <= a < b:
        raise BenchError(f"--window {text!r}: need 0 <= A < B")
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
