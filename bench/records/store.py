"""Reading and writing records atomically: a crash never leaves a half-written record."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from bench.files import write_atomic
from bench.errors import BenchError
from bench.paths import runs_dir
from bench.records.schema import RunRecord

RECORD_NAME = "record.json"


def save_record(record: RunRecord, directory: Path) -> Path:
    path = directory / RECORD_NAME
    write_atomic(path, record.model_dump_json(indent=2) + "\n")
    return path


def load_record(path: Path) -> RunRecord:
    if path.is_dir():
        path = path / RECORD_NAME
    try:
        return RunRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchError(f"{path}: no such record") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise BenchError(f"{path}: " + (f"field '{field}': " if field else "") + message) from None
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}: not valid JSON: {exc}") from None


def load_records(directory: Path | None = None) -> list[tuple[Path, RunRecord]]:
    """Every record under `directory` (default results/runs), sorted by run id."""
    root = directory or runs_dir()
    return [(p.parent, load_record(p)) for p in sorted(root.glob(f"*/{RECORD_NAME}"))]


def new_run_id(name: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}-{now.microsecond:06d}-{name}"


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
