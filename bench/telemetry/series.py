"""The series a sampler writes beside a run's logs, and how it is read back.

`telemetry.csv` holds one row per kept sample, one column per quantity; `telemetry.meta.json` says what the
columns measured (sources, GPUs, which power reading, the host scope) and how the file was bounded. On a Slurm
job each node writes its own pair, `telemetry.<node>.csv` and `telemetry.<node>.meta.json`.

Time: `t` is the sampling host's CLOCK_MONOTONIC (`time.monotonic()`), the harness clock when the sampler runs
beside bench; `wall` is its wall clock, which is how a node's series is laid on bench's clock.

Cumulative columns (CPU seconds, energy) keep every joule and CPU second however the file is thinned, so a
window summary from them is exact at any length; the instantaneous ones (power, clocks) are thinned with the
rows.

Bounded size: every sample is kept for the first `full_rows` rows; then every 2nd for the next `full_rows`
rows, every 4th for the next, and so on (the rate halves each time, so the file grows with the logarithm of
the run's length); after `max_rows` rows no more are written and the meta says from when. At 12 Hz with the
defaults: every sample for the first 28 minutes, a cap after about 14 hours; a row is ~80 B plus ~65 B per
GPU, so the file stays under ~15 MB with one GPU and ~60 MB with eight."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

SERIES_NAME = "telemetry.csv"
META_NAME = "telemetry.meta.json"
META_FORMAT = "bench-telemetry"
FULL_ROWS = 20_000
MAX_ROWS = 100_000
FLUSH_ROWS = 10  # a killed sampler loses at most this many rows

# host columns, then one block of GPU_FIELDS per GPU (`gpu<index>_<field>`, the NVML index)
HOST_COLUMNS = ("t", "wall", "cpu_s", "cpu_percent", "rss_mb", "processes", "machine_busy_s", "rapl_j")
GPU_FIELDS = ("energy_j", "power_w", "sm_mhz", "mem_mhz", "temperature_c", "utilization_percent",
              "memory_used_mb", "reasons", "foreign_pids")


def gpu_column(index: int, name: str) -> str:
    return f"gpu{index}_{name}"


def columns_for(gpu_indices: list[int]) -> list[str]:
    return [*HOST_COLUMNS, *(gpu_column(i, f) for i in gpu_indices for f in GPU_FIELDS)]


def series_paths(directory: Path, node: str | None = None) -> tuple[Path, Path]:
    """(series, meta) of the local sampler, or of one node's."""
    if node is None:
        return directory / SERIES_NAME, directory / META_NAME
    return directory / f"telemetry.{node}.csv", directory / f"telemetry.{node}.meta.json"


def write_meta(path: Path, meta: dict) -> None:
    """Atomically (a reader never sees half a file): the sampler rewrites it when it stops."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value == value else ""
    return str(value)


class SeriesWriter:
    """Writes the rows that the thinning keeps; `offer` one row per sample, in time order."""

    def __init__(self, path: Path, columns: list[str], full_rows: int = FULL_ROWS,
                 max_rows: int = MAX_ROWS) -> None:
        self.columns, self.full_rows, self.max_rows = columns, max(1, full_rows), max(1, max_rows)
        self.handle = open(path, "w", encoding="ascii", newline="")
        self.writer = csv.writer(self.handle, lineterminator="\n")
        self.writer.writerow(columns)
        self.samples = 0  # offered
        self.rows = 0  # written
        self.every = 1  # keep every n-th sample
        self.levels: list[tuple[float, int]] = [(0.0, 1)]  # (t from which, every n-th)
        self.capped_at: float | None = None  # t of the first sample not written

    def offer(self, row: dict) -> bool:
        """Write the sample if the thinning keeps it; True when written."""
        index = self.samples
        self.samples += 1
        if self.rows >= self.max_rows:
            if self.capped_at is None:
                self.capped_at = row["t"]
            return False
        if index % self.every:
            return False
        self.writer.writerow([_text(row.get(name)) for name in self.columns])
        self.rows += 1
        if self.rows % FLUSH_ROWS == 0:
            self.handle.flush()
        if self.rows % self.full_rows == 0:
            self.every *= 2
            self.levels.append((row["t"], self.every))
        return True

    def bounds(self) -> dict:
        return {"full_rows": self.full_rows, "max_rows": self.max_rows, "samples": self.samples,
                "rows": self.rows, "levels": [list(level) for level in self.levels],
                "capped_at": self.capped_at}

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.close()


@dataclass
class Series:
    """One sampler's series, read back: a column of floats (None where empty) per name, and its meta."""

    path: Path
    meta: dict
    columns: dict[str, list[float | None]] = field(default_factory=dict)
    text_columns: dict[str, list[str]] = field(default_factory=dict)  # foreign_pids: "pid pid ..."

    def __len__(self) -> int:
        return len(self.columns.get("t", []))

    @property
    def gpu_indices(self) -> list[int]:
        return [int(gpu["index"]) for gpu in self.meta.get("gpus", [])]

    @property
    def node(self) -> str | None:
        return self.meta.get("node")


def _number(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def read_series(path: Path, meta_path: Path) -> Series | None:
    """The series at `path` (None when it or its meta is missing or unreadable). A row cut short (the sampler
    was killed mid-write) is skipped."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        text = path.read_text(encoding="ascii", errors="replace")
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        return None
    rows = csv.reader(io.StringIO(text[:text.rfind("\n") + 1]))  # a last line without its newline: cut short
    header = next(rows, None)
    if not header or header[0] != "t":
        return None
    series = Series(path, meta, {name: [] for name in header if not name.endswith("_foreign_pids")},
                    {name: [] for name in header if name.endswith("_foreign_pids")})
    for row in rows:
        if len(row) != len(header) or _number(row[0]) is None:
            continue
        for name, cell in zip(header, row):
            if name in series.text_columns:
                series.text_columns[name].append(cell)
            else:
                series.columns[name].append(_number(cell))
    return series


def find_series(directory: Path) -> list[Series]:
    """Every series in a run directory: the local sampler's, or one per Slurm node."""
    found = []
    for meta_path in sorted(directory.glob("telemetry*.meta.json")):
        path = meta_path.with_name(meta_path.name[:-len(".meta.json")] + ".csv")
        series = read_series(path, meta_path)
        if series is not None:
            found.append(series)
    return found
