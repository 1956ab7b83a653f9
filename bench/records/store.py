"""Reading and writing records atomically: a crash never leaves a half-written record."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from bench.files import read_bounded_text, write_atomic
from bench.errors import BenchError
from bench.paths import runs_dir
from bench.records.schema import RunRecord
from bench.security import redact

RECORD_NAME = "record.json"
MAX_RECORD_BYTES = 64 << 20  # a record holds a per-iteration series and a log tail: megabytes, never more
# A run id names a directory under results/runs and a plot under results/plots: one plain name, never a path.
RUN_ID = re.compile(r"[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]{0,199}")


def save_record(record: RunRecord, directory: Path) -> Path:
    """Write the record atomically, with every credential in it redacted (a URL's user-info, tokens)."""
    path = directory / RECORD_NAME
    write_atomic(path, redact(record.model_dump_json(indent=2)) + "\n")
    return path


def _read_record_text(path: Path) -> str:
    return read_bounded_text(path, MAX_RECORD_BYTES, "record", BenchError)


def load_record(path: Path) -> RunRecord:
    if path.is_dir():
        path = path / RECORD_NAME
    text = _read_record_text(path)
    try:
        record = RunRecord.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = " ".join(str(err["msg"]).removeprefix("Value error, ").split())
        raise BenchError(f"{path}: " + (f"field '{field}': " if field else "") + message) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BenchError(f"{path}: not valid JSON: {' '.join(str(exc).split())}") from None
    if not RUN_ID.fullmatch(record.run_id):
        raise BenchError(f"{path}: field 'run_id': {record.run_id[:80]!r} is not a plain name "
                         "(one path component, no '/', not starting with '.'); refused")
    return record


def load_records(directory: Path | None = None) -> list[tuple[Path, RunRecord]]:
    """Every record under `directory` (default results/runs), sorted by run id."""
    root = directory or runs_dir()
    return [(p.parent, load_record(p)) for p in sorted(root.glob(f"*/{RECORD_NAME}"))]


def new_run_id(name: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}-{now.microsecond:06d}-{name}"


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
