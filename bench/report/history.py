"""`bench history NAME` and `bench baseline save NAME`: every record of an implementation on a hardware, over
time (the table keeps only the latest), and the latest row's records saved as a baseline for
`bench compare`."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from bench.errors import BenchError
from bench.files import json_text
from bench.records.schema import RunRecord
from bench.report.compare import BASELINE_FORMAT
from bench.report.plots import label, plot_style, png_bytes
from bench.report.rows import hardware_label, hardware_of

BASELINE_VERSION = 1


def history(records: list[tuple[Path, RunRecord]], name: str, hardware: str | None) -> list[RunRecord]:
    """The records of `name` (on a hardware whose label contains `hardware`), oldest first."""
    mine = [r for _, r in records if r.implementation == name]
    if not mine:
        raise BenchError(f"{name}: no record of this implementation")
    if hardware:
        mine = [r for r in mine if hardware.lower() in hardware_label(*hardware_of(r)).lower()]
        if not mine:
            raise BenchError(f"--hardware {hardware!r}: no record of {name} on it")
    return sorted(mine, key=lambda r: (r.created, r.run_id))


def history_png(name: str, records: list[RunRecord]) -> bytes:
    """img/s of each ok record against its date, one series per hardware."""
    with plot_style():
        fig = Figure(figsize=(8, 3.5), layout="constrained")
        ax = fig.subplots()
        by_hardware: dict[str, list[RunRecord]] = {}
        for record in records:
            if record.throughput_img_s is not None:
                by_hardware.setdefault(hardware_label(*hardware_of(record)), []).append(record)
        for hardware, mine in sorted(by_hardware.items()):
            ax.plot([r.created[:19] for r in mine], [r.throughput_img_s for r in mine], marker="o",
                    label=label(hardware))
        ax.set_ylabel("images / second")
        ax.set_xlabel("run started (UTC)")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.set_title(label(f"{name}: every measured record", 120), fontsize=9, loc="left")
        if by_hardware:
            ax.legend(fontsize=7)
        return png_bytes(fig)


def baseline_records(records: list[tuple[Path, RunRecord]], name: str,
                     hardware: str | None) -> list[RunRecord]:
    """The latest ok record of `name` on one hardware, with the ok records of its repeat group."""
    ok = [r for r in history(records, name, hardware) if r.throughput_img_s is not None]
    if not ok:
        raise BenchError(f"{name}: no ok record to save as a baseline")
    kinds = sorted({hardware_label(*hardware_of(r)) for r in ok})
    if len(kinds) > 1:
        raise BenchError(f"{name}: records on {len(kinds)} hardware ({'; '.join(kinds)}); "
                         "choose one with --hardware")
    latest = ok[-1]
    return [r for r in ok if latest.repeat_group and r.repeat_group == latest.repeat_group] or [latest]


def baseline_json(name: str, records: list[RunRecord]) -> str:
    return json_text({"format": BASELINE_FORMAT, "version": BASELINE_VERSION, "implementation": name,
                       "hardware": hardware_label(*hardware_of(records[0])),
                       "records": [r.model_dump(mode="json") for r in records]}, indent=1) + "\n"
