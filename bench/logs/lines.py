"""Turning raw bytes into logical lines: ANSI colours, CRLF, `\r`/`\b` progress-bar overwrites, gzip.

Reading is bounded: a raw line longer than `MAX_LINE` characters is cut there (the rest of it is skipped and
counted), and a gzip file is decompressed as a stream, so neither a 50 MB line nor a gzip bomb takes more
memory than one capped line. A gzip file that is corrupt or cut short yields the lines read before the damage
and says where it stopped (`LogText.damage`); what was measured up to there is still reported."""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from bench.files import open_input

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MAX_LINE = 64 * 1024  # characters of one raw line kept; no trainer prints a progress line anywhere near this


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


class LogText:
    """The raw lines of a log file, gzip-compressed or not; undecodable bytes are replaced, never fatal.

    Iterating yields each raw line (its newline kept) cut to `MAX_LINE` characters. Afterwards `truncated`
    counts the lines that were cut and `damage` names the damage that ended a gzip stream early (None when
    the file read to its end)."""

    def __init__(self, path: Path, root: Path | None = None) -> None:
        self.path = Path(path)
        self.root = root  # when given, a link out of it is refused (bench.files.open_input)
        self.truncated = 0
        self.lines = 0
        self.damage: str | None = None

    def __iter__(self) -> Iterator[str]:
        with open_input(self.path, "log", self.root) as raw:  # a regular file only: never a FIFO or a device
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            binary = gzip.GzipFile(fileobj=raw) if compressed else raw
            handle = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
            try:
                yield from self._bounded(handle)
            except (EOFError, OSError, zlib.error) as exc:  # a corrupt or truncated gzip stream
                self.damage = (f"{self.path}: the gzip data is damaged after line {self.lines} "
                               f"({exc or type(exc).__name__}); measured what came before it")

    def _bounded(self, handle) -> Iterator[str]:
        while piece := handle.readline(MAX_LINE):
            self.lines += 1
            if len(piece) == MAX_LINE and piece[-1] not in "\r\n":
                self.truncated += 1
                while (rest := handle.readline(MAX_LINE)) and rest[-1] not in "\r\n":
                    pass  # skip the rest of an overlong line without holding it
                piece += "\n"
            yield piece


def open_text(path: Path, root: Path | None = None) -> LogText:
    """Raw lines of a log, bounded and streamed (see `LogText`)."""
    return LogText(path, root)


def logical_lines(raw: str) -> list[str]:
    """A raw line (CRLF or not) as its logical lines: a progress bar that rewrites itself with `\r`
    is one logical line per render. Empty renders are dropped."""
    segments = raw.rstrip("\n").rstrip("\r").split("\r")
    cleaned = [clean(segment) for segment in segments]
    return [line for line in cleaned if line] or [""]
