"""`bench import mlperf PATH`: run records from MLPerf Training results (mlcommons/training_results_v*).

PATH is a results folder of one system (`<submitter>/results/<system>[/maskrcnn]`), of a submitter, or a whole
repository checkout; every `<submitter>/results/<system>/mask*/result_N.txt` below it is one run. A run's
record says what the log says (global batch, window throughput from the printed times, the events' own
timestamps as the harness clock, cross-checked as for a live run) and what the system description
`<submitter>/systems/<system>.json` says (accelerator model and count, nodes, host CPU, framework, submitter,
division, status). The logs are not copied: the record cites repository, commit, path and sha256. Records are
never comparable with protocol rows (`comparable` False; the MLPerf settings that differ from protocol 1 are
its deviations), and the runs of one system share a repeat group.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import bench
from bench.errors import BenchError
from bench.files import file_sha256, read_bounded_text
from bench.logs.lines import open_text
from bench.logs.mlperf import Parser
from bench.measure.assess import Measurement, measure
from bench.measure.warnings import warning
from bench.protocol.spec import load_protocol
from bench.records.builder import Ending, Identity, RecordFacts, build_record
from bench.records.schema import Provenance, RunRecord
from bench.records.store import RECORD_NAME, load_record, save_record
from bench.vocabulary import (MAX_DEVICES, MAX_NAME, MAX_NODES, MLPERF_FAMILY, ParseStatus, WarningCode,
                              count_problem, name_problem)

LOG_NAME = re.compile(r"^result_\d+\.txt$")
VERSION_IN_REPO = re.compile(r"training_results_v(\d+\.\d+)")
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# v0.6 NVIDIA systems/*.json are `key: {"value": ...}` lines
V06_SYSTEM_LINE = re.compile(r"^(\w+): (\{.*\})\s*$")
MAX_SYSTEM_BYTES = 1 << 20  # a system description is a few kilobytes
MAX_LITERAL = 20_000  # characters of a v0.6 `entry` printed as a Python dict


@dataclass
class ImportReport:
    written: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (log path in the repository, why)
    systems: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Source:
    """Where the logs come from: the repository they are cited by."""

    root: Path  # the checkout's top folder (holds <submitter>/results/...)
    repo: str
    commit: str
    version: str  # MLPerf Training round, e.g. "0.6"


# -- finding the runs ------------------------------------------------------------------------------
def find_logs(path: Path) -> list[Path]:
    """Every MLPerf Mask R-CNN run log under `path`: `<submitter>/results/<system>/mask*/result_N.txt`."""
    if path.is_file():
        candidates = [path]
    else:
        candidates = sorted(p for p in path.rglob("result_*.txt"))
    return [p for p in candidates if LOG_NAME.match(p.name) and p.parent.name.lower().startswith("mask")
            and len(p.parents) > 4 and p.parent.parent.parent.name == "results"]


def repository_root(log: Path) -> Path:
    return log.parents[4]  # <root>/<submitter>/results/<system>/<benchmark>/result_N.txt


def source_for(path: Path, repo: str | None, commit: str | None, version: str | None) -> Source:
    """The repository, commit and MLPerf round, from the options or from the checkout's own git metadata."""
    logs = find_logs(path)
    if not logs:
        raise BenchError(f"{path}: no MLPerf Mask R-CNN log "
                         "(<submitter>/results/<system>/maskrcnn/result_N.txt) below it")
    root = repository_root(logs[0])
    repo = repo or _git(root, "remote", "get-url", "origin")
    commit = commit or _git(root, "rev-parse", "HEAD")
    if not repo or not commit:
        raise BenchError(f"{root}: not a git checkout; give --repo URL and --commit SHA of the results "
                         "repository")
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise BenchError(f"--commit {commit!r}: expected a full 40-character commit sha")
    found = VERSION_IN_REPO.search(repo) or VERSION_IN_REPO.search(root.name)
    version = version or (found[1] if found else None)
    if version is None:
        raise BenchError(f"--repo {repo}: the MLPerf round cannot be read from it; give --mlperf-version "
                         "(e.g. 3.0)")
    return Source(root, repo.removesuffix(".git"), commit, version)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


# -- the system description ------------------------------------------------------------------------
def read_system(path: Path, root: Path | None = None) -> dict[str, Any]:
    """A system description as a dict; v0.6's `key: {"value": ...}` files included. Raises BenchError."""
    text = read_bounded_text(path, MAX_SYSTEM_BYTES, "system description", BenchError, root)
    try:
        data = json.loads(text)
    except RecursionError:
        raise BenchError(f"{path}: not a system description (JSON nested too deeply)") from None
    except json.JSONDecodeError as exc:
        data = _v06_system(text)
        if not data:
            raise BenchError(f"{path}: not a system description (not JSON: {exc})") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: not a system description (a JSON {type(data).__name__})")
    return {re.sub(r"[\s-]+", "_", str(key).strip()).lower(): value  # "number of nodes"
            for key, value in data.items()}


def _v06_system(text: str) -> dict[str, Any]:
    values = {}
    for line in text.splitlines():
        if m := V06_SYSTEM_LINE.match(line.strip()):
            try:
                entry = json.loads(m[2])
            except (ValueError, RecursionError):
                continue
            values[m[1]] = entry.get("value") if isinstance(entry, dict) else None
    return values


def _literal(value: Any) -> dict:
    """v0.6 `entry`/`nodes`: a Python dict printed as a string."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or len(value) > MAX_LITERAL:
        return {}
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def system_environment(system: dict[str, Any], submission: dict[str, Any]) -> dict[str, Any]:
    """The environment fields of a record from a system description (any round) and the log's submission
    events."""
    entry = _literal(system.get("entry") or submission.get("entry"))
    node = _literal(entry.get("nodes"))
    framework = _text(system.get("framework") or entry.get("framework")) or ""
    release = re.search(r"NVIDIA Release (\d+\.\d+)", framework)
    env = {
        "submitter": _text(system.get("submitter") or system.get("sumitter") or system.get("org")
                           or submission.get("submitter")),
        "division": _text(system.get("division") or submission.get("division")),
        "mlperf_status": _text(system.get("status") or submission.get("status")),
        "system_name": _text(system.get("system_name") or entry.get("hardware")
                             or submission.get("platform")),
        "nodes": _count(system.get("number_of_nodes") or node.get("num_nodes"), MAX_NODES),
        "accelerators_per_node": _count(system.get("accelerators_per_node") or node.get("num_accelerators"),
                                        MAX_DEVICES),
        "accelerator_model": _text(system.get("accelerator_model_name") or node.get("accelerator")),
        "host_cpu": _text(system.get("host_processor_model_name") or node.get("cpu")),
        "host_processors_per_node": _count(system.get("host_processors_per_node"), MAX_DEVICES),
        "framework": framework,
        "container": f"NGC {framework.split()[0]} {release[1]}" if release else None,
        "operating_system": _text(system.get("operating_system") or entry.get("os")),
    }
    return {k: v for k, v in env.items() if v not in (None, "")}


def _text(value: Any) -> str | None:
    """A name or a description from a system file: text of one line, bounded; anything else is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or name_problem(value.strip()):
        return None
    return value.strip()


def _count(value: Any, high: int) -> int | None:
    """A count from a system file (an integer or its digits in text) in 1..high; anything else is none."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 12:
        value = int(value.strip())
    return value if count_problem(value, 1, high) is None else None


# -- one run ---------------------------------------------------------------------------------------
def parse_log(log: Path, root: Path | None = None) -> Parser:
    """The log parsed; with `root`, a log that is a link out of it is refused (BenchError)."""
    parser = Parser()
    for raw in open_text(log, root):
        parser.feed(raw)
    return parser


def measure_run(parser: Parser, window: tuple[int, int]) -> Measurement:
    """The window throughput from the printed times and, as a live run's harness clock, from the progress
    records' own timestamps; the record builder cross-checks the two, as for `bench run`."""
    images = parser.batch.images_per_iter if parser.batch else None
    if images is None:
        m = Measurement(parser.format, ParseStatus.NO_DATA, 0, window)
        m.reason = "the log has no global_batch_size event: the images per iteration are unknown"
        return m
    clock = {r.line_no: r.timestamp for r in parser.records if r.timestamp is not None}
    return measure(parser, images, window, clock)


def deviations(global_batch: int | None, accelerators: int | None, precision: str | None) -> list[str]:
    """The MLPerf settings that differ from protocol 1, in the form of
    `bench.protocol.check.Deviation.short`."""
    protocol = load_protocol(1)
    per_gpu = protocol.settings["images_per_gpu"].value
    out = []
    if global_batch is not None and global_batch != per_gpu * protocol.gpus:
        out.append(f"global batch {global_batch} (protocol {per_gpu * protocol.gpus})")
    if global_batch is not None and accelerators and global_batch % accelerators == 0 \
            and global_batch // accelerators != per_gpu:
        out.append(f"{protocol.settings['images_per_gpu'].label} {global_batch // accelerators} "
                   f"(protocol {per_gpu})")
    if accelerators is not None and accelerators != protocol.gpus:
        out.append(f"GPUs {accelerators} (protocol {protocol.gpus})")
    expected = protocol.settings["precision"]
    if precision is not None and precision.lower() not in ("fp32", "float32"):
        out.append(f"{expected.label} {precision} (protocol {expected.value})")
    return out


def plain_id(text: str) -> str:
    """`text` as a run id or a group name: [A-Za-z0-9._-] only, at most MAX_NAME characters (a longer one
    keeps its start and ends with a hash of the whole, so that two long names stay two)."""
    name = UNSAFE.sub("_", text)
    if len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 13]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return name


def run_id_for(source: Source, submitter: str, system: str, log: Path) -> str:
    return plain_id(f"mlperf-v{source.version}-{submitter}-{system}-{log.stem}")


def mlperf_record(log: Path, source: Source, parser: Parser, m: Measurement, system: dict[str, Any],
                  window: tuple[int, int]) -> RunRecord:
    rel = log.relative_to(source.root).as_posix()
    submitter_dir, system_name = log.parents[3].name, log.parents[1].name
    env = system_environment(system, parser.submission)
    env["mlperf_version"] = source.version
    accelerators = (env["nodes"] * env["accelerators_per_node"]
                    if env.get("nodes") and env.get("accelerators_per_node") else None)
    if accelerators is None or accelerators > MAX_DEVICES:
        raise BenchError(f"{submitter_dir}/systems/{system_name}.json: no plausible number_of_nodes and "
                         f"accelerators_per_node (counts from 1 to {MAX_NODES} and {MAX_DEVICES} in all; "
                         "the log's submission_entry names none either)")
    env["accelerators"] = accelerators
    batch = parser.batch.images_per_iter if parser.batch else None
    if batch is not None and batch % accelerators:
        m.warnings.append(_warning(WarningCode.BATCH_NOT_DIVISIBLE,
                                   f"global batch {batch} is not a multiple of the {accelerators} "
                                   "accelerators: several accelerators share an image (spatial parallelism), "
                                   "or the system description does not match the run"))
    group = plain_id(f"mlperf-v{source.version}-{submitter_dir}-{system_name}")
    facts = RecordFacts(
        run_id=run_id_for(source, submitter_dir, system_name, log), created=_run_date(parser),
        identity=Identity(group, MLPERF_FAMILY, "imported",
                          f"{env.get('submitter', submitter_dir)} {system_name}", env.get("framework", "")),
        provenance=Provenance(recipe=MLPERF_FAMILY, recipe_path="", recipe_sha256="", repo=source.repo,
                              commit=source.commit, bench_version=bench.__version__),
        gpus=accelerators, gpu_model=env.get("accelerator_model"), nodes=env.get("nodes", 1), window=window,
        log_format=parser.format, comparable=False, environment=env,
        deviations=deviations(batch, accelerators, parser.precision), repeat_group=group, origin="imported",
        extra={"mlperf": {
            "version": source.version, "submitter": env.get("submitter", submitter_dir),
            "system": system_name, "log_path": rel, "log_url": f"{source.repo}/blob/{source.commit}/{rel}",
            "log_sha256": file_sha256(log, source.root),
            "system_json": f"{submitter_dir}/systems/{system_name}.json",
            "global_batch": batch, "global_batch_line": parser.batch.line_no if parser.batch else None,
            "images_per_device": batch // accelerators if batch and batch % accelerators == 0 else None,
            "precision": parser.precision, "precision_line": parser.precision_line or None,
            "timing_source": parser.source, "run_stop": parser.run_stop}})
    record = build_record(facts, parser, m, Ending.of_log(m, parser))
    # ~900 imported runs: their timelines are the public logs'
    return record.model_copy(update={"series": []})


def _warning(code: WarningCode, message: str):

    return warning(code, message, "no images per accelerator is given; read the run's own per-device "
                   "settings in its log before comparing per-accelerator numbers")


def _run_date(parser: Parser) -> str:
    """The run's own date (its first MLPerf event, epoch seconds), so that re-importing gives the same
    record."""
    seconds = parser.first_event_seconds
    try:
        return datetime.fromtimestamp(seconds or 0, timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):  # (the parser keeps only plausible times)
        return "1970-01-01T00:00:00+00:00"


# -- the command -----------------------------------------------------------------------------------
def import_results(path: Path, runs: Path, *, repo: str | None = None, commit: str | None = None,
                   version: str | None = None, window: tuple[int, int] = (100, 500)) -> ImportReport:
    source = source_for(path, repo, commit, version)
    report = ImportReport()
    systems: dict[Path, dict[str, Any] | str] = {}
    names = Names(runs)
    for log in find_logs(path):
        rel = log.relative_to(source.root).as_posix()
        system_json = log.parents[3] / "systems" / f"{log.parents[1].name}.json"
        if system_json not in systems:
            systems[system_json] = _system_or_reason(system_json, source.root)
        system = systems[system_json]
        try:
            parser = parse_log(log, source.root)
            if not parser.submission and not parser.batch:
                raise BenchError("no MLPerf logging event in the file")
            if isinstance(system, str) and not parser.submission.get("entry"):
                raise BenchError(system)
            record = mlperf_record(log, source, parser, measure_run(parser, window),
                                   system if isinstance(system, dict) else {}, window)
            record = names.unique(record, rel, system_json.relative_to(source.root).as_posix())
            report.written.append(save_record(record, runs / record.run_id))
        except BenchError as exc:
            report.rejected.append((rel, str(exc)))
            continue
        report.systems.add(record.repeat_group or "")
    return report


class Names:
    """Run ids and repeat groups of one import, never shared by two logs or two systems: names that differ
    only in what a plain name cannot hold (punctuation, spaces) get a suffix (-2, -3, ...), in the order the
    logs are found, and a run directory that holds another log's record (or a measured run's) is never
    replaced. Re-importing the same logs gives the same names."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs
        self.run_ids: dict[str, str] = {}  # run id -> the log it holds
        self.groups: dict[str, str] = {}  # repeat group -> the system description it stands for

    def unique(self, record: RunRecord, log: str, system: str) -> RunRecord:
        run_id = self._free(record.run_id, lambda name: self.run_ids.get(name, log) == log
                            and self._holds(name, log))
        group = self._free(record.repeat_group or run_id,
                           lambda name: self.groups.get(name, system) == system)
        self.run_ids[run_id], self.groups[group] = log, system
        return record.model_copy(update={"run_id": run_id, "repeat_group": group})

    @staticmethod
    def _free(base: str, free) -> str:
        for k in range(1, 10_000):
            name = base if k == 1 else plain_id(f"{base}-{k}")
            if free(name):
                return name
        raise BenchError(f"{base}: no free run id")

    def _holds(self, run_id: str, log: str) -> bool:
        """The run directory is new, or holds the record of this very log (a re-import replaces it)."""
        path = self.runs / run_id / RECORD_NAME
        if not path.exists():
            return not (self.runs / run_id).exists() or not any((self.runs / run_id).iterdir())
        try:
            record = load_record(path, self.runs)
        except BenchError:
            return False
        return record.origin == "imported" and (record.extra.get("mlperf") or {}).get("log_path") == log


def _system_or_reason(path: Path, root: Path) -> dict[str, Any] | str:
    if not path.is_file():
        return f"no system description {path.parent.parent.name}/systems/{path.name}"
    try:
        return read_system(path, root)
    except BenchError as exc:
        return str(exc)
