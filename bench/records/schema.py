"""The run record, a versioned JSON document written beside the raw log of every run."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator,
                      model_validator)

from bench.vocabulary import (MAX_DEVICES, MAX_IMAGES_PER_ITER, MAX_IMG_S, MAX_ITERATION, MAX_NAME, MAX_NODES,
                              RunStatus, count_problem, name_problem)
from bench.measure.batch import BatchEvidence
from bench.measure.warnings import Warning_
from bench.measure.telemetry import Telemetry

# 2: images_per_iter_source; `comparable` is no longer trusted (the table decides from the record's facts).
# 3: batch_evidence and telemetry; every number finite and in range (a bench that reads 2 refuses a 3 in one
# line instead of failing on the unknown fields).
SCHEMA_VERSION = 3


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 record read as version 2: where its images per iteration came from was not recorded."""
    return {**data, "schema_version": 2, "images_per_iter_source": None}


def migrate_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A version 2 record read as version 3: it has neither batch evidence nor telemetry (both optional)."""
    return {**data, "schema_version": 3}


MIGRATIONS = {1: migrate_v1, 2: migrate_v2}  # version -> the step to the next version


class Model(BaseModel):
    # NaN and infinity are refused in every float field: a record's numbers reach tables, exports and verdicts
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# -- the rules a record's fields are held to, on every read and every write (one validator: this schema) ----
# A run id names a directory under results/runs, a plot under results/plots and a page of the HTML report: one
# plain name, never a path, short enough for a file name (255 bytes) with its suffix.
RUN_ID = re.compile(r"[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]*")
MAX_RUN_ID_BYTES = MAX_NAME


def _run_id(value: str) -> str:
    if not RUN_ID.fullmatch(value) or len(value.encode("utf-8", "surrogatepass")) > MAX_RUN_ID_BYTES:
        raise ValueError(f"{value[:80]!r} is not a plain name (one path component of at most "
                         f"{MAX_RUN_ID_BYTES} bytes, no '/', not starting with '.')")
    return value


def _name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _timestamp(value: str) -> str:
    """An ISO 8601 date and time (the table sorts and shows them)."""
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an ISO 8601 date and time") from None
    return value


def _within(low: int, high: int):
    def check(value: int) -> int:
        problem = count_problem(value, low, high)
        if problem:
            raise ValueError(problem)
        return value
    return check


def _window(value: list[int] | None) -> list[int] | None:
    if value is not None and (len(value) != 2 or not 0 <= value[0] < value[1] <= MAX_ITERATION):
        raise ValueError(f"{value[:3]!r} is not a window [start, end] with "
                         f"0 <= start < end <= {MAX_ITERATION}")
    return value


def _series(value: list[list[float]]) -> list[list[float]]:
    bad = next((point for point in value if len(point) != 2 or point[1] < 0), None)
    if bad is not None:
        raise ValueError(f"point {bad[:3]!r} is not [iteration, seconds >= 0]")
    return value


def _reference(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A published number as the recipes state it (img/s, GPUs, GPU model, source), or nothing."""
    if value is not None:
        img_s, gpus = value.get("img_s"), value.get("gpus")
        if (type(img_s) not in (int, float) or not 0 < img_s <= MAX_IMG_S
                or count_problem(gpus, 1, MAX_DEVICES) or not isinstance(value.get("gpu_model"), str)
                or not isinstance(value.get("source", ""), str)):
            raise ValueError("is not {img_s: a positive number, gpus: a count, gpu_model: text, "
                             "source: text}")
    return value


class Facts(BaseModel):
    """The keys of a free-form part of a record (environment, dataset, extra) that tables and reports read,
    typed exactly (no coercion); every other key is kept as written."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


class CpuFacts(Facts):
    model: str | None = None
    logical: int | None = None
    physical: int | None = None


class GpuDevice(Facts):
    name: str | None = None


class GpuFacts(Facts):
    devices: list[GpuDevice] = []


class EnvironmentFacts(Facts):
    cpu: CpuFacts | None = None
    gpus: GpuFacts | None = None
    gpu_model: str | None = None
    frameworks: dict[str, str | None] | None = None
    packages: dict[str, str | None] | None = None
    nodes: int | None = None  # an MLPerf system's
    accelerators_per_node: int | None = None


class DatasetFacts(Facts):
    path: str | None = None
    synthetic: bool | None = None
    synthetic_params: dict[str, Any] | None = None


class MlperfFacts(Facts):
    version: Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){0,3}$")]  # the MLPerf round, e.g. "3.0"
    log_url: str


class SuiteFacts(Facts):
    id: str
    name: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]  # a suite bench ships (suite_<name>.toml)
    preset: str
    members: list[str] = []


class ExtraFacts(Facts):
    mlperf: MlperfFacts | None = None
    suite: SuiteFacts | None = None


def _facts(model: type[Facts]):
    def check(value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            model.model_validate(value)
        return value
    return check


RunId = Annotated[str, AfterValidator(_run_id)]
Name = Annotated[str, AfterValidator(_name)]
Window = Annotated[list[int] | None, AfterValidator(_window)]


class PatchHash(Model):
    step: int
    kind: str
    name: str  # diff file or the substitution's pattern
    sha256: str


class Provenance(Model):
    recipe: str  # recipe name
    recipe_path: str
    recipe_sha256: str
    repo: str | None = None  # credentials are never stored (see bench.security.redact)
    commit: Annotated[str, Field(pattern=r"^[0-9a-f]{7,64}$")] | None = None
    patches: list[PatchHash] = []
    container_image: str | None = None
    protocol_version: int | None = None
    bench_version: str
    hash: str = ""  # sha256 over the fields above: a row is stale when its recipe's hash differs
    bundle: str | None = None  # sha256 of the manifest.json of the offline bundle the run installed from


def _rate(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise ValueError(f"{value!r} is not a positive rate")
    return value


class Throughput(Model):
    throughput_img_s: Annotated[float | None, AfterValidator(_rate)]
    window: Window  # the window actually used, iterations (start, end]
    iterations: int | None = None
    seconds: float | None = None
    images: int | None = None
    method: str | None = None
    exact: bool | None = None


class RunRecord(Model):
    schema_version: int = SCHEMA_VERSION
    run_id: RunId
    created: Annotated[str, AfterValidator(_timestamp)]  # UTC, ISO 8601
    implementation: Name  # recipe name
    family: Name
    variant: Name
    title: Name
    framework: Name  # "detectron2 0.1.2"
    preset: Name | None = None
    # What the run believed at the time (its preset's flag). Kept for reading, never for ranking: the table
    # decides comparability from the facts below (bench.report.comparability).
    comparable: bool = True
    status: RunStatus
    reason: str = ""
    exit_code: int | None = None
    command: list[str] = []
    gpus: Annotated[int, AfterValidator(_within(0, MAX_DEVICES))]  # GPUs in total (all nodes)
    # e.g. "Tesla V100-SXM2-16GB": the table compares rows on the same model x count
    gpu_model: Name | None = None
    nodes: Annotated[int, AfterValidator(_within(1, MAX_NODES))] = 1
    images_per_iter: Annotated[int, AfterValidator(_within(0, MAX_IMAGES_PER_ITER))]  # 0: never learned
    # "log line 12: <text>" or "recipe formula 2 * gpus at gpus = 8"
    images_per_iter_source: str | None = None
    # what the log said about its batch, the strength of that evidence and how it was weighed (issue 23); None
    # where the log printed nothing about it, and in records written before
    batch_evidence: BatchEvidence | None = None
    window_requested: Annotated[list[int], AfterValidator(_window)]
    log_format: str
    framework_timing: Throughput  # from the framework's own printed times
    harness_clock: Throughput | None = None  # from the arrival times of the progress lines
    clock_difference_pct: float | None = None
    last_iteration: int | None = None
    series: Annotated[list[list[float]], AfterValidator(_series)] = []  # [iteration, seconds per iteration]
    warnings: list[Warning_] = []
    log_files: dict[str, str] = {}  # role -> path relative to the record's directory
    log_tail: list[str] = []  # the last 50 log lines when the run failed
    environment: Annotated[dict[str, Any], AfterValidator(_facts(EnvironmentFacts))] = {}
    provenance: Provenance
    # the recipe's published number, as published
    reference: Annotated[dict[str, Any] | None, AfterValidator(_reference)] = None
    deviations: list[str] = []  # protocol deviations, short
    coco_eval: list[dict[str, Any]] = []
    repeat_group: Name | None = None  # runs of one `--repeat K` share this
    # {"path", "synthetic", "synthetic_params"}; None in imported records
    dataset: Annotated[dict[str, Any] | None, AfterValidator(_facts(DatasetFacts))] = None
    # "run": measured by `bench run`; "imported": written by `bench parse --record` from an existing log,
    # whose command, environment and harness clock are unknown (see bench.records.imported).
    origin: Literal["run", "imported"] = "run"
    extra: Annotated[dict[str, Any], AfterValidator(_facts(ExtraFacts))] = Field(default_factory=dict)
    # what the hardware did during the window (bench.measure.telemetry); None: no sampler ran (records before
    # telemetry, imported logs, --no-telemetry)
    telemetry: Telemetry | None = None

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Older versions are migrated on read; a version this bench does not know is refused."""
        if not isinstance(data, dict):
            return data
        version = data.get("schema_version", SCHEMA_VERSION)
        if type(version) is not int:  # noqa: E721 - a bool or a float is not a version either
            raise ValueError(f"schema_version {str(version)[:40]!r} is not an integer")
        while version in MIGRATIONS:
            data = MIGRATIONS[version](data)
            version = data["schema_version"]
        if version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {version!r} is not one this bench reads "
                             f"(1 to {SCHEMA_VERSION}); a newer bench wrote it")
        return data

    @field_validator("framework_timing")
    @classmethod
    def _measured(cls, timing: Throughput, info: ValidationInfo) -> Throughput:
        """An ok record carries the throughput it measured: finite, positive, plausible, over a window, at
        one image per iteration or more."""
        if info.data.get("status") is RunStatus.OK:
            img_s = timing.throughput_img_s
            if (img_s is None or not 0 < img_s <= MAX_IMG_S or timing.window is None
                    or info.data.get("images_per_iter", 1) < 1):
                raise ValueError(f"an ok record needs a window, images per iteration and a throughput above "
                                 f"0 and at most {MAX_IMG_S:g} img/s, not {img_s!r}")
        return timing

    @property
    def throughput_img_s(self) -> float | None:
        return self.framework_timing.throughput_img_s if self.status is RunStatus.OK else None
