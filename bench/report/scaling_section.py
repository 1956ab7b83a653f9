"""The "Scaling" section of results/README.md: img/s per device and scaling efficiency as the device count
grows, for the members bench measured with `bench run NAME --scale 1,2,4,...` (one scale group each) and,
beside them, the same view of the imported MLPerf Training systems (one submitter's system family of one round
at several sizes, e.g. 1, 4 and 12 DGX-2H nodes).

Efficiency at N devices = (img/s per device at N) / (img/s per device at the group's smallest count): against
one device where the group has it (bench's runs), against the smallest system otherwise (MLPerf has no
one-accelerator rows), and the table says which. Each count is the median of its ok runs. A pure function of
the records, like the rest of the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench.records.schema import RunRecord
from bench.numbers import sig3
from bench.report.markdown import cell, markdown, wrap
from bench.report.rows import cpu_of, is_mlperf


FRAMEWORK_CHARS = 32  # of an MLPerf system's framework text, in a curve's name


@dataclass(frozen=True)
class ScalePoint:
    devices: int
    nodes: int
    img_s: float | None  # median over the ok runs at this count
    n: int  # ok runs
    runs: int  # all runs
    images_per_iter: int

    @property
    def per_device(self) -> float | None:
        return self.img_s / self.devices if self.img_s is not None else None


@dataclass(frozen=True)
class ScaleCurve:
    title: str
    device: str  # what one device is: "CPU process (...)" or a GPU model
    points: tuple[ScalePoint, ...]  # by device count

    @property
    def base(self) -> ScalePoint | None:
        """The smallest count with a measurement: what efficiency is against."""
        return next((p for p in self.points if p.per_device is not None), None)

    def efficiency(self, point: ScalePoint) -> float | None:
        base = self.base
        if base is None or point.per_device is None or not base.per_device:
            return None
        return point.per_device / base.per_device


def world_size(record: RunRecord) -> int:
    """Devices that trained: the processes of all nodes on the CPU, the GPUs of all nodes otherwise."""
    scale = record.extra.get("scale") or {}
    return int(scale.get("world_size") or max(record.gpus, 1))


def _points(df: pd.DataFrame) -> tuple[ScalePoint, ...]:
    points = []
    for devices, runs in df.groupby("devices", sort=True):
        ok = runs["img_s"].dropna().astype(float)
        last = runs.sort_values("run_id")["record"].iloc[-1]
        points.append(ScalePoint(int(devices), int(last.nodes), float(ok.median()) if len(ok) else None,
                                 len(ok), len(runs), last.images_per_iter))
    return tuple(points)


def _frame(records: list[RunRecord], group_of) -> pd.DataFrame:
    return pd.DataFrame({"group": [group_of(r) for r in records], "run_id": [r.run_id for r in records],
                         "devices": [world_size(r) for r in records],
                         "img_s": [r.throughput_img_s for r in records], "record": records})


def measured_curves(records: list[RunRecord]) -> list[ScaleCurve]:
    """One curve per `bench run --scale` group (the records' extra.scale.group)."""
    scaled = [r for r in records if (r.extra.get("scale") or {}).get("group")]
    if not scaled:
        return []
    curves = []
    df = _frame(scaled, lambda r: r.extra["scale"]["group"])
    for _, runs in df.groupby("group", sort=True):
        last: RunRecord = runs.sort_values("run_id")["record"].iloc[-1]
        device = (f"CPU process ({cpu_of(last)})" if last.gpus == 0
                  else last.gpu_model or "GPU, model not recorded")
        preset = f", preset {last.preset}" if last.preset else ""
        points = _points(runs)
        if len(points) > 1:  # one count is no scaling measurement
            curves.append(ScaleCurve(f"{last.implementation}{preset}", device, points))
    return curves


def mlperf_curves(records: list[RunRecord]) -> list[ScaleCurve]:
    """One curve per MLPerf round, submitter, accelerator and framework that was submitted at several
    sizes."""
    mlperf = [r for r in records if is_mlperf(r)]
    if not mlperf:
        return []

    def family(r: RunRecord) -> tuple:
        env = r.environment
        return (r.extra["mlperf"]["version"], env.get("submitter", ""), r.gpu_model or "",
                env.get("framework", ""))

    curves = []
    for key, runs in _frame(mlperf, family).groupby("group", sort=True):
        points = _points(runs)
        if sum(1 for p in points if p.img_s is not None) < 2:  # one size, or sizes without a measurement
            continue
        version, submitter, model, framework = key
        framework = framework if len(framework) <= FRAMEWORK_CHARS else framework[:FRAMEWORK_CHARS - 1] + "…"
        curves.append(ScaleCurve(f"v{version} {submitter} ({framework})", model or "accelerator", points))
    return curves


def curves_table(curves: list[ScaleCurve], what: str) -> str:
    """One table for several curves: the curve's name and device on its first row, then one row per count."""
    rows = []
    for curve in curves:
        base = curve.base
        for index, p in enumerate(curve.points):
            efficiency = curve.efficiency(p)
            rows.append({what: cell(curve.title) if index == 0 else "",
                         "One device": cell(curve.device) if index == 0 else "",
                         "Devices": str(p.devices), "Nodes": str(p.nodes),
                         "Images/iteration": str(p.images_per_iter), "img/s": sig3(p.img_s),
                         "img/s per device": sig3(p.per_device),
                         "Efficiency": (f"{efficiency:.2f} (vs {base.devices})"
                                        if efficiency is not None and base else "–"),
                         "n": f"{p.n}/{p.runs}"})
    return markdown(pd.DataFrame(rows), left=2)


INTRO = ("img/s per device as the device count grows, and the scaling efficiency: img/s per device at N "
         "devices divided by img/s per device at the smallest count (one device for bench's runs). Each "
         "count is the median of its ok runs. A device is one GPU, or on a machine without one, one CPU "
         "process (the same framework code through its own launcher, gloo instead of nccl): CPU processes "
         "share the machine's cores and memory bandwidth, so their efficiency says how the framework's "
         "data-parallel path behaves there, not what GPUs would do.")
MEASURED_HOW = "Measured with `bench run NAME --scale 1,2,4,...` (one scale group per implementation)."
MLPERF_HOW = ("The same view of real systems, from the imported MLPerf Training logs (a submitter's system "
              "family in one round at several sizes): efficiency against the smallest size submitted, at "
              "MLPerf's own global batch, which grows with the system (images per iteration column), so a "
              "larger system also trains fewer images per accelerator per iteration.")


def render_scaling_section(records: list[RunRecord]) -> list[str]:
    """The section's markdown lines (empty when there is nothing at several counts)."""
    measured, mlperf = measured_curves(records), mlperf_curves(records)
    if not measured and not mlperf:
        return []
    out = ["## Scaling", "", *wrap(INTRO), ""]
    if measured:
        out += ["### Measured by bench", "", *wrap(MEASURED_HOW), "",
                curves_table(measured, "Implementation"), ""]
    if mlperf:
        out += ["### MLPerf Training systems (imported)", "", *wrap(MLPERF_HOW), "",
                curves_table(mlperf, "System family"), ""]
    return out
