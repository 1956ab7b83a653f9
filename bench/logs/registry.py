"""The known log formats, by name. A parser registers by being listed here (import order = sniff order)."""

from __future__ import annotations

import importlib

from bench.logs.base import LogParser

# format name -> module under bench.logs that defines exactly one LogParser subclass named `Parser`
FORMAT_MODULES: dict[str, str] = {
    "mlperf": "mlperf",  # before maskrcnn-benchmark: MLPerf logs carry its trainer lines too
    "detectron2": "detectron2",
    "detectron2-metrics-json": "detectron2_metrics",
    "mmdet-v2": "mmdet_v2",
    "mmdet-v2-json": "mmdet_v2_json",
    "mmengine": "mmengine",
    "maskrcnn-benchmark": "maskrcnn_benchmark",
    "tensorpack": "tensorpack",
    "simpledet": "simpledet",
    "detectron": "detectron",
    "keras": "keras",
    "torchvision": "torchvision",
}


def known_formats() -> frozenset[str]:
    return frozenset(FORMAT_MODULES)


def parser_class(name: str) -> type[LogParser]:
    if name not in FORMAT_MODULES:
        raise KeyError(f"unknown log format {name!r}; known: {', '.join(sorted(FORMAT_MODULES))}")
    module = importlib.import_module(f"bench.logs.{FORMAT_MODULES[name]}")
    return module.Parser


def new_parser(name: str) -> LogParser:
    return parser_class(name)()
