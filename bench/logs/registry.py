"""The known log formats, by name. A parser registers by being listed here (import order = sniff order)."""

from __future__ import annotations

import importlib

from bench.logs.base import LogParser
from bench.vocabulary import LogFormat

# format -> module under bench.logs that defines exactly one LogParser subclass named `Parser`; the order of
# LogFormat is the sniffing order
FORMAT_MODULES: dict[LogFormat, str] = {fmt: fmt.value.replace("-", "_") for fmt in LogFormat} | {
    LogFormat.DETECTRON2_METRICS_JSON: "detectron2_metrics",
}


def parser_class(name: str) -> type[LogParser]:
    if name not in FORMAT_MODULES:
        raise KeyError(f"unknown log format {name!r}; known: {', '.join(LogFormat.values())}")
    module = importlib.import_module(f"bench.logs.{FORMAT_MODULES[name]}")
    return module.Parser


def new_parser(name: str) -> LogParser:
    return parser_class(name)()
