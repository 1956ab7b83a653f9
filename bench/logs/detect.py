"""`--format auto`: the first format whose `sniff` recognises a line of the log."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.logs.lines import logical_lines, open_text
from bench.logs.registry import FORMAT_MODULES, parser_class

SNIFF_LINES = 20000


def detect_format(path: Path) -> str:
    classes = [parser_class(name) for name in FORMAT_MODULES]
    for count, raw in enumerate(open_text(path)):
        if count >= SNIFF_LINES:
            break
        for line in logical_lines(raw):
            for cls in classes:
                if cls.sniff(line):
                    return cls.format
    raise BenchError(f"{path}: no known log format recognised in its first {SNIFF_LINES} lines; "
                     "name one with --format")
