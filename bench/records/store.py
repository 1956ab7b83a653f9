"""Reading and writing records atomically: a crash never leaves a half-written record."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.files import read_bounded_text, write_atomic
from bench.errors import BenchError
from bench.paths import runs_dir
from bench.records.schema import RUN_ID, RunRecord  # noqa: F401 (RUN_ID re-exported)
from bench.security import redact

RECORD_NAME = "record.json"
MAX_RECORD_BYTES = 64 << 20  # a record holds a per-iteration series and a log tail: megabytes, never more


def save_record(record: RunRecord, directory: Path) -> Path:
    """Write the record atomically, with every credential in it redacted (a URL's user-info, tokens)."""
    path = directory / RECORD_NAME
    write_atomic(path, redact(record.model_dump_json(indent=2)) + "\n")
    return path


def validate_record(data: str | Any, where: Path | str) -> RunRecord:
    """The one validator of a record read from anywhere (a record file, a baseline file's list): the schema,
    or one-line BenchError naming `where` and the field."""
    try:
        if isinstance(data, str):
            return RunRecord.model_validate_json(data)
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = " ".join(str(err["msg"]).removeprefix("Value error, ").split())
        raise BenchError(f"{where}: " + (f"field '{field}': " if field else "") + message[:300]) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BenchError(f"{where}: not valid JSON: {' '.join(str(exc).split())[:200]}") from None


def load_record(path: Path, root: Path | None = None) -> RunRecord:
    """The record at `path` (a record file or its run directory); with `root`, a link out of it is
    refused."""
    if path.is_dir():
        path = path / RECORD_NAME
    return validate_record(read_bounded_text(path, MAX_RECORD_BYTES, "record", BenchError, root), path)


class Records(list):
    """(run directory, record) pairs, sorted by run id, and one line per record file left out (`skipped`):
    each names the file and the field that failed."""

    def __init__(self, loaded=(), skipped: list[str] | None = None) -> None:
        super().__init__(loaded)
        self.skipped = skipped or []


def load_records(directory: Path | None = None) -> Records:
    """Every valid record under `directory` (default results/runs). A record that fails validation, or whose
    run id another record already has, is left out and named in `skipped`: one bad record never hides the
    others."""
    root = directory or runs_dir()
    records, seen = Records(), {}
    for path in sorted(root.glob(f"*/{RECORD_NAME}")):
        try:
            record = load_record(path, root)
        except BenchError as exc:
            records.skipped.append(str(exc))
            continue
        if record.run_id in seen:
            records.skipped.append(f"{path}: field 'run_id': {record.run_id!r} is also the run id of "
                                   f"{seen[record.run_id]}")
            continue
        seen[record.run_id] = path
        records.append((path.parent, record))
    return records


def new_run_id(name: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}-{now.microsecond:06d}-{name}"


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
