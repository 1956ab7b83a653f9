"""One record builder for every path: a local run, a Kubernetes run (stand-in kubectl), an imported log and an
MLPerf import all make their records through bench.records.builder, so the same fields are filled the same way.
(The container launcher's records are compared with a local run's in tests/test_containers_slow.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from test_k8s_run import STEP_S, bench
from test_run import run_in_process, write_recipe
from test_window_core import write_torchvision_log

ROOT = Path(__file__).resolve().parents[1]
# What every live run's record fills in, whatever launched it (values differ; presence may not).
LIVE_FIELDS = {"run_id", "created", "implementation", "family", "variant", "title", "framework", "status",
               "exit_code", "command", "gpus", "nodes", "images_per_iter", "images_per_iter_source",
               "window_requested", "log_format", "framework_timing", "harness_clock", "clock_difference_pct",
               "last_iteration", "series", "log_files", "provenance", "deviations", "dataset", "extra"}


def filled(record: dict) -> set[str]:
    return {key for key, value in record.items() if value not in (None, [], {}, "")}


def test_only_the_builder_constructs_records() -> None:
    makers = [str(p.relative_to(ROOT)) for p in (ROOT / "bench").rglob("*.py")
              if re.search(r"(?<!class )\bRunRecord\(", p.read_text())]
    assert makers == ["bench/records/builder.py"], makers


def test_local_and_kubernetes_records_fill_the_same_fields(tmp_path: Path, monkeypatch) -> None:
    _, local = run_in_process(tmp_path / "local", write_recipe(tmp_path, "torchvision", window=(20, 40)),
                              monkeypatch)
    log = tmp_path / "train.log"
    write_torchvision_log(log, lambda i: STEP_S, iterations=700)
    out = tmp_path / "k8s-run"
    done = bench(["run", "torchvision", "--gpus", "8", "--out", str(out), "--no-progress"], tmp_path, log,
                 KUBECTL_STANDIN_INTERVAL="0.01")
    assert done.returncode == 0, done.stdout + done.stderr
    import json

    cluster = json.loads((out / "record.json").read_text())
    assert local["status"] == cluster["status"] == "ok"
    assert LIVE_FIELDS <= filled(local), LIVE_FIELDS - filled(local)
    assert LIVE_FIELDS <= filled(cluster), LIVE_FIELDS - filled(cluster)
    common = {"stop_reason", "stop_iteration", "wall_s", "lines", "clock_stream", "unparsed_lines"}
    assert common <= set(local["extra"]["harness"]) and common <= set(cluster["extra"]["harness"])
