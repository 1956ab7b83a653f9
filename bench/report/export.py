"""`bench export`: every record flattened to one row (hyperfine's --export-json, MLPerf's result summarizer).

JSON: {"format": "bench-export", "version": EXPORT_VERSION, "rows": [...]}, described by the JSON Schema
shipped with the package (bench/report/export.schema.json, package data); strictly valid JSON (a number
that is not finite would be null, with a note). CSV: the same columns, lists joined by "; ", per RFC 4180
(CRLF line ends; a field holding a comma, a quote, CR or LF is quoted), and a text cell that a spreadsheet
would run as a formula (starting with = + - @, a tab or CR, OWASP's list) starts with a quote mark instead.
"""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from pathlib import Path

from bench.files import json_text
from bench.recipes import Recipe
from bench.records.schema import RunRecord
from bench.report.comparability import not_comparable_because
from bench.report.rows import hardware_label, hardware_of

EXPORT_VERSION = 1
SCHEMA_NAME = "export.schema.json"
# OWASP, CSV injection: a cell starting with one of these is a formula to a spreadsheet (full-width forms too)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def flat(directory: Path, record: RunRecord, recipes: dict[str, Recipe]) -> dict:
    ft, hc = record.framework_timing, record.harness_clock
    window = ft.window or [None, None]
    return {
        "run_id": record.run_id, "created": record.created, "implementation": record.implementation,
        "family": record.family, "variant": record.variant, "title": record.title,
        "framework": record.framework, "preset": record.preset, "status": record.status.value,
        "reason": record.reason, "origin": record.origin,
        "hardware": hardware_label(*hardware_of(record)), "gpus": record.gpus, "gpu_model": record.gpu_model,
        "nodes": record.nodes, "images_per_iter": record.images_per_iter,
        "window_start": window[0], "window_end": window[1], "img_s": record.throughput_img_s,
        "img_s_per_gpu": (record.throughput_img_s / record.gpus
                          if record.throughput_img_s and record.gpus else None),
        "iterations": ft.iterations, "seconds": ft.seconds, "images": ft.images, "method": ft.method,
        "harness_img_s": hc.throughput_img_s if hc else None,
        "clock_difference_pct": record.clock_difference_pct,
        "repeat_group": record.repeat_group, "protocol_version": record.provenance.protocol_version,
        "commit": record.provenance.commit, "repo": record.provenance.repo,
        "synthetic_data": record.dataset.get("synthetic") if record.dataset else None,
        "deviations": list(record.deviations), "warnings": [w.code for w in record.warnings],
        "not_comparable_because": not_comparable_because(record, recipes),
        "record": (directory / "record.json").as_posix(),
    }


def schema() -> dict:
    return json.loads(resources.files("bench.report").joinpath(SCHEMA_NAME).read_text(encoding="utf-8"))


def export_json(rows: list[dict]) -> str:
    return json_text({"format": "bench-export", "version": EXPORT_VERSION, "rows": rows}, indent=1,
                     ensure_ascii=False) + "\n"


def csv_cell(value: object) -> object:
    """A value as a CSV cell: None empty, a list joined, text that would start a formula neutralised."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def export_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    columns = list(schema()["$defs"]["row"]["properties"])
    writer = csv.DictWriter(buffer, columns, lineterminator="\r\n")  # RFC 4180; CR and LF in a field: quoted
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return buffer.getvalue()
