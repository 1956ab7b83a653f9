"""The words every layer of bench shares, each defined once; this module imports nothing else from bench.

Closed vocabularies (as in mlcommons/logging's constants): a status, a warning code, a stop reason, an event
kind or a log format that is not listed here does not exist. Records store the values (the strings), so a
value is only ever added, never renamed: records already written must keep loading.
"""

from __future__ import annotations

import re
from enum import Enum


class Word(str, Enum):
    """A closed set of strings: each member is its value, in comparisons, JSON and text alike (`f"{x}"` gives
    the value, as `enum.StrEnum` does from Python 3.11 on; bench also runs on 3.10)."""

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__

    @classmethod
    def values(cls) -> list[str]:
        """Every member's value, sorted: what an error message lists as known."""
        return sorted(member.value for member in cls)


class ParseStatus(Word):
    """What reading a log can conclude about its window (`bench parse`, the measurement of a run)."""

    OK = "ok"
    INCOMPLETE = "incomplete"  # the window is not covered (the record says the last iteration seen)
    NO_DATA = "no_data"  # no progress line at all
    DIVERGED = "diverged"  # NaN/inf loss, or the framework's own divergence error
    CRASHED = "crashed"  # a traceback after training started
    MIXED = "mixed"  # two runs in one file
    NONCOMPLIANT = "noncompliant"  # the window holds what is not training (see bench.measure.compliance)


class RunStatus(Word):
    """How a run ended, as its record says: what its log shows (a `ParseStatus`), or what only the harness
    knows."""

    OK = "ok"
    INCOMPLETE = "incomplete"
    NO_DATA = "no_data"
    DIVERGED = "diverged"
    CRASHED = "crashed"
    MIXED = "mixed"
    NONCOMPLIANT = "noncompliant"
    TIMEOUT = "timeout"  # bench stopped the run at --timeout
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM to bench (or bench was killed)
    FAILED = "failed"  # the launch itself failed (non-zero exit before any progress)
    BATCH_MISMATCH = "batch_mismatch"  # the trainer's printed batch contradicts the recipe: stopped at once

    @classmethod
    def of(cls, status: ParseStatus) -> RunStatus:
        """The run status a log's own conclusion gives."""
        return cls(status.value)


class StopReason(Word):
    """Why the watcher stopped following a trainer."""

    WINDOW = "window"  # the window and its margin were printed: measured, stopped at once
    EXITED = "exited"  # the trainer ended by itself
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    BATCH_MISMATCH = "batch_mismatch"
    # bench itself died; its supervisor stopped the trainer and wrote the record
    BENCH_KILLED = "bench-killed"
    BENCH_ERROR = "bench-error"  # an internal error of bench after the launch
    SUPERVISOR_SIGNALLED = "supervisor-signalled"  # the supervisor itself was told to stop


class EventKind(Word):
    """What a parser notices besides progress lines."""

    START = "start"  # the trainer (re)started: a second one inside a log is a restart
    DIVERGED = "diverged"
    TRACEBACK = "traceback"
    EVALUATION = "evaluation"
    CHECKPOINT = "checkpoint"
    FINISHED = "finished"


class WarningCode(Word):
    """Every warning a measurement or a record can carry; each comes with a message and a remedy."""

    CLOCK_DISAGREES = "clock-disagrees"  # harness clock vs the framework's own times
    DATA_LOADING = "data-loading"
    WINDOW_NOT_STEADY = "window-not-steady"
    GPU_SHARED = "gpu-shared"
    GPU_THROTTLED = "gpu-throttled"
    INPUT_BOUND = "input-bound"  # data loading's share high and the GPUs idle meanwhile (telemetry)
    HOST_BUSY = "host-busy"  # other processes took the host's CPU in the window (telemetry) or around the run
    RESUMED = "resumed"
    MEDIAN_BASED = "median-based"
    DIVERGED_AFTER_WINDOW = "diverged-after-window"
    TRACEBACK_AFTER_WINDOW = "traceback-after-window"
    MALFORMED_LINES = "malformed-lines"
    LONG_LINES = "long-lines"
    LOG_DAMAGED = "log-damaged"
    EXIT_AFTER_WINDOW = "exit-after-window"
    BATCH_NOT_DIVISIBLE = "batch-not-divisible"
    # an evaluation ran inside the window, outside the framework's timed iterations (bench.measure.compliance)
    EVALUATION_IN_WINDOW = "evaluation-in-window"

    @classmethod
    def after_window(cls, kind: EventKind) -> WarningCode:
        """The warning for a divergence or a crash that came after the window was measured."""
        return cls(f"{kind.value}-after-window")


class BatchStrength(Word):
    """How far a batch fact read from a log can be trusted (issue 23), strongest first. Each parser names the
    source of every fact it reads (file:line @ commit) and the framework versions the rule holds for."""

    # the trainer's own global batch or world size, printed by the code that uses it
    DEFINITIVE = "definitive"
    # a per-device batch times a device count the log may not state reliably (or at a version not printed)
    INFERRED = "inferred"
    # the log's only number is known not to be what the trainer uses: the batch is unknown
    UNKNOWN = "unknown"

    def weaker(self, other: BatchStrength) -> BatchStrength:
        """The weaker of the two: a product of facts is only as strong as its weakest factor."""
        order = list(BatchStrength)
        return max(self, other, key=order.index)


class LogFormat(Word):
    """The log formats bench reads; sniffing tries them in this order (`bench.logs.registry`)."""

    MLPERF = "mlperf"  # before maskrcnn-benchmark: MLPerf logs carry its trainer lines too
    DETECTRON2 = "detectron2"
    DETECTRON2_METRICS_JSON = "detectron2-metrics-json"
    MMDET_V2 = "mmdet-v2"
    MMDET_V2_JSON = "mmdet-v2-json"
    MMENGINE = "mmengine"
    MASKRCNN_BENCHMARK = "maskrcnn-benchmark"
    TENSORPACK = "tensorpack"
    SIMPLEDET = "simpledet"
    DETECTRON = "detectron"
    KERAS = "keras"
    TORCHVISION = "torchvision"


class EnvVar(Word):
    """bench's own settings that come from the environment (each also documented where it is used)."""

    RECIPES = "BENCH_RECIPES"
    PATCHES = "BENCH_PATCHES"
    RESULTS = "BENCH_RESULTS"
    CACHE = "BENCH_CACHE"
    BUNDLE = "BENCH_BUNDLE"  # the default of `bench setup/run --bundle`: an offline bundle to install from
    # where the interpreter with the torch an on-top bundle is built on is, if not where the bundle says
    TARGET_PYTHON = "BENCH_TARGET_PYTHON"
    REGISTRY = "BENCH_REGISTRY"  # where recipe images live (default localhost)
    LAUNCHER = "BENCH_LAUNCHER"  # the default of `bench run --launcher`
    ENGINE_OPTIONS = "BENCH_ENGINE_OPTIONS"  # container engine options before the subcommand
    CONTAINER_OPTIONS = "BENCH_CONTAINER_OPTIONS"  # options for the engine's `run` and `build`
    CONTAINER_IMAGE = "BENCH_CONTAINER_IMAGE"  # the image a run inside a container was given
    KUBECTL = "BENCH_KUBECTL"
    GIT_USERNAME = "BENCH_GIT_USERNAME"  # set for git's askpass helper only, never printed
    GIT_PASSWORD = "BENCH_GIT_PASSWORD"


# The family of the records `bench import mlperf` writes: they have their own section and are never ranked.
MLPERF_FAMILY = "mlperf"

# What the harness sets for every trainer it launches, whatever the launcher: unbuffered output, so that the
# harness clock sees a line when it is printed, and no colour codes in the log.
HARNESS_ENV: dict[str, str] = {"PYTHONUNBUFFERED": "1", "ANSI_COLORS_DISABLED": "1"}

_DIGEST_PIN = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")


def image_pin_problem(image: str) -> str | None:
    """Why `image` is not pinned (None when it is): a pin is a digest `@sha256:<64 hex>`, or a tag other than
    `latest`. The one rule for recipes, manifests and batch scripts."""
    if "@" in image:
        if not _DIGEST_PIN.fullmatch(image):
            return f"image {image!r}: a digest must be @sha256:<64 hex digits>"
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return f"image {image!r} has no tag; pin a tag (not latest) or a digest"
    if name.endswith(":latest"):
        return f"image {image!r}: 'latest' is not a pin; use a fixed tag or a digest"
    return None


# Plausibility bounds, the one rule for every reader of counts and rates (recipes, options, records,
# imports): a value outside them is refused as bad input, never carried into a table, an export or a verdict.
# Generous on purpose: the largest MLPerf Training systems use about 10,000 accelerators, about 24,000 img/s.
MAX_DEVICES = 65_536  # GPUs or accelerators of one run, all nodes together
MAX_NODES = 16_384
MAX_IMAGES_PER_ITER = 1_000_000  # global images per iteration
MAX_IMG_S = 1_000_000.0
MAX_ITERATION = 10**9
MAX_NAME = 200  # characters of a name, a title, a GPU model, a preset or a run id
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def name_problem(value: str) -> str | None:
    """Why `value` cannot be a name or title shown in a table (None when it can): one line, bounded."""
    if len(value) > MAX_NAME:
        return f"{value[:40]!r}...: longer than {MAX_NAME} characters"
    if _NOT_ONE_LINE.search(value):
        return f"{value[:80]!r}: holds a control character or a line break"
    return None


def count_problem(value: int, low: int, high: int) -> str | None:
    """Why `value` is not a count in [low, high] (None when it is); a bool is no count."""
    if type(value) is not int:  # noqa: E721 - True is an int to isinstance
        return f"{str(value)[:40]!r} is not a whole number"
    if not low <= value <= high:
        shown = (str(value) if abs(value) < 10**12
                 else f"a number of about {value.bit_length() * 3 // 10} digits")
        return f"{shown} is not between {low} and {high}"
    return None
