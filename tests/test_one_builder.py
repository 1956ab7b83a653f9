"""One record builder for every path: a local run, a Kubernetes run (stand-in kubectl), an imported log and an
MLPerf import all make their records through bench.records.builder, so the same fields are filled the same
way. (The container launcher's records are compared with a local run's in tests/test_containers_slow.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from bench_roots import BenchEnv
from bench_runs import LIVE_FIELDS, STEP_S, bench_k8s, filled, run_in_process
from writers import write_standin_recipe, write_torchvision_log

ROOT = Path(__file__).resolve().parents[1]


def test_only_the_builder_constructs_records() -> None:
    makers = [str(p.relative_to(ROOT)) for p in (ROOT / "bench").rglob("*.py")
              if re.search(r"(?<!class )\bRunRecord\(|validate_record\(dict\(", p.read_text())]
    assert makers == ["bench/records/builder.py"], makers


def test_local_and_kubernetes_records_fill_the_same_fields(tmp_path: Path, bench_env: BenchEnv) -> None:
    _, local = run_in_process(bench_env, write_standin_recipe(tmp_path, "torchvision", window=(20, 40)))
    log = tmp_path / "train.log"
    write_torchvision_log(log, lambda i: STEP_S, iterations=700)
    out = tmp_path / "k8s-run"
    done = bench_k8s(["run", "torchvision", "--gpus", "8", "--out", str(out), "--no-progress"], bench_env,
                     log, KUBECTL_STANDIN_INTERVAL="0.01")
    assert done.returncode == 0, done.stdout + done.stderr
    import json

    cluster = json.loads((out / "record.json").read_text())
    assert local["status"] == cluster["status"] == "ok"
    assert LIVE_FIELDS <= filled(local), LIVE_FIELDS - filled(local)
    assert LIVE_FIELDS <= filled(cluster), LIVE_FIELDS - filled(cluster)
    common = {"stop_reason", "stop_iteration", "wall_s", "lines", "clock_stream", "unparsed_lines"}
    assert common <= set(local["extra"]["harness"]) and common <= set(cluster["extra"]["harness"])
