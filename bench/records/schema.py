"""The run record, a versioned JSON document written beside the raw log of every run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.vocabulary import RunStatus
from bench.measure.warnings import Warning_

# 2: images_per_iter_source; `comparable` is no longer trusted (the table decides from the record's facts).
SCHEMA_VERSION = 2


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 record read as version 2: where its images per iteration came from was not recorded."""
    return {**data, "schema_version": 2, "images_per_iter_source": None}


MIGRATIONS = {1: migrate_v1}  # version -> the step to the next version


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    commit: str | None = None
    patches: list[PatchHash] = []
    container_image: str | None = None
    protocol_version: int | None = None
    bench_version: str
    hash: str = ""  # sha256 over the fields above: a row is stale when its recipe's hash differs
    bundle: str | None = None  # sha256 of the manifest.json of the offline bundle the run installed from


class Throughput(Model):
    throughput_img_s: float | None
    window: list[int] | None  # the window actually used, iterations (start, end]
    iterations: int | None = None
    seconds: float | None = None
    images: int | None = None
    method: str | None = None
    exact: bool | None = None


class RunRecord(Model):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    created: str  # UTC, ISO 8601
    implementation: str  # recipe name
    family: str
    variant: str
    title: str
    framework: str  # "detectron2 0.1.2"
    preset: str | None = None
    # What the run believed at the time (its preset's flag). Kept for reading, never for ranking: the table
    # decides comparability from the facts below (bench.report.comparability).
    comparable: bool = True
    status: RunStatus
    reason: str = ""
    exit_code: int | None = None
    command: list[str] = []
    gpus: int  # GPUs in total (all nodes)
    # e.g. "Tesla V100-SXM2-16GB": the table compares rows on the same model x count
    gpu_model: str | None = None
    nodes: int = 1
    images_per_iter: int
    # "log line 12: <text>" or "recipe formula 2 * gpus at gpus = 8"
    images_per_iter_source: str | None = None
    window_requested: list[int]
    log_format: str
    framework_timing: Throughput  # from the framework's own printed times
    harness_clock: Throughput | None = None  # from the arrival times of the progress lines
    clock_difference_pct: float | None = None
    last_iteration: int | None = None
    series: list[list[float]] = []  # [iteration, seconds per iteration]
    warnings: list[Warning_] = []
    log_files: dict[str, str] = {}  # role -> path relative to the record's directory
    log_tail: list[str] = []  # the last 50 log lines when the run failed
    environment: dict[str, Any] = {}
    provenance: Provenance
    reference: dict[str, Any] | None = None  # the recipe's published number, as published
    deviations: list[str] = []  # protocol deviations, short
    coco_eval: list[dict[str, Any]] = []
    repeat_group: str | None = None  # runs of one `--repeat K` share this
    # {"path", "synthetic", "synthetic_params"}; None in imported records
    dataset: dict[str, Any] | None = None
    # "run": measured by `bench run`; "imported": written by `bench parse --record` from an existing log,
    # whose command, environment and harness clock are unknown (see bench.records.imported).
    origin: Literal["run", "imported"] = "run"
    extra: dict[str, Any] = Field(default_factory=dict)

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

    @property
    def throughput_img_s(self) -> float | None:
        return self.framework_timing.throughput_img_s if self.status is RunStatus.OK else None
