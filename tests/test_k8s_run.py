"""`bench k8s run` and `bench k8s collect` end to end against a stand-in kubectl on PATH
(tests/standins/kubectl): it records what it is asked and streams a torchvision-format log at a controlled
pace until `delete`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bench_roots import BenchEnv
from bench_runs import STEP_S, bench_k8s
from writers import write_torchvision_log  # the exact MetricLogger.log_every line format


def calls(tmp_path: Path) -> list[dict]:
    lines = (tmp_path / "kubectl" / "calls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def verb(call: dict) -> str:
    argv = call["argv"]
    return argv[2] if argv[:1] == ["--namespace"] else argv[0]


def test_run_stops_after_the_window_by_deleting_and_writes_the_record(tmp_path: Path,
                                                                      bench_env: BenchEnv) -> None:
    log = tmp_path / "train.log"
    write_torchvision_log(log, lambda i: STEP_S, iterations=2000)
    out = tmp_path / "run"
    done = bench_k8s(["run", "torchvision", "--gpus", "8", "--namespace", "labs", "--out", str(out),
                      "--no-progress"], bench_env, log, KUBECTL_STANDIN_INTERVAL="0.05")
    assert done.returncode == 0, done.stdout + done.stderr
    made = calls(tmp_path)
    verbs = [verb(c) for c in made]
    # apply the manifests, find the pod, follow its log, delete the job after the window, clean up the rest
    assert verbs[0] == "apply" and "logs" in verbs
    applied = list(yaml.safe_load_all(made[0]["stdin"]))
    job = next(d for d in applied if d["kind"] == "Job")
    assert job["metadata"]["namespace"] == "labs"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["/usr/bin/tini", "-g", "--"]
    follow = next(c for c in made if verb(c) == "logs")
    assert follow["argv"][-4:] == ["-f", f"{job['metadata']['name']}-0-standin", "-c", "trainer"]
    deletes = [c for c in made if verb(c) == "delete"]
    assert deletes[0]["argv"][-2:] == [f"job/{job['metadata']['name']}", "--wait=false"]
    assert deletes[-1]["stdin"] == made[0]["stdin"]  # cleanup: everything that was applied
    # the stop came soon after the window (iteration 500), long before the log's end (2000)
    record = json.loads((out / "record.json").read_text())
    assert record["status"] == "ok" and record["exit_code"] == 143  # SIGTERM reached the trainer
    assert record["extra"]["harness"]["stop_reason"] == "window"
    assert 500 < record["extra"]["harness"]["stop_iteration"] <= 540  # one progress line past the window
    streamed = (out / "pod.log").read_text().splitlines()
    assert int(streamed[-1].split("[")[2].split("/")[0]) < 1900  # the stand-in was stopped, not exhausted
    assert abs(record["framework_timing"]["throughput_img_s"] - 16 / STEP_S) < 0.01
    assert record["harness_clock"] is not None  # the arrival times of the streamed lines
    assert record["gpus"] == 8 and record["images_per_iter"] == 16
    assert (record["provenance"]["container_image"]
            == job["spec"]["template"]["spec"]["containers"][0]["image"])
    assert record["log_files"]["log"] == "pod.log" and (out / "clock.tsv").is_file()
    assert (out / "manifests.yaml").read_text() == made[0]["stdin"]
    assert "64.0 img/s" in done.stdout  # three significant digits, as everywhere (bench.numbers)


def test_a_run_that_ends_before_the_window_is_incomplete(tmp_path: Path, bench_env: BenchEnv) -> None:
    log = tmp_path / "short.log"
    write_torchvision_log(log, lambda i: STEP_S, iterations=300)
    out = tmp_path / "run"
    done = bench_k8s(["run", "torchvision", "--gpus", "8", "--out", str(out), "--no-progress"], bench_env,
                     log)
    assert done.returncode == 1
    record = json.loads((out / "record.json").read_text())
    assert record["status"] != "ok" and record["exit_code"] == 0
    assert record["extra"]["harness"]["stop_reason"] == "exited"


def test_collect_turns_a_finished_pods_log_into_a_record(tmp_path: Path, bench_env: BenchEnv) -> None:
    log = tmp_path / "done.log"
    write_torchvision_log(log, lambda i: STEP_S, iterations=700)
    (tmp_path / "kubectl").mkdir()
    (tmp_path / "kubectl" / "finished").touch()
    out = tmp_path / "collected"
    done = bench_k8s(["collect", "bench-torchvision-0-abcde", "--out", str(out)], bench_env, log,
                 KUBECTL_STANDIN_RECIPE="torchvision")
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((out / "record.json").read_text())
    assert record["implementation"] == "torchvision" and record["status"] == "ok"
    assert abs(record["framework_timing"]["throughput_img_s"] - 64.0) < 0.01
    assert record["exit_code"] == 0 and record["extra"]["kubernetes"]["node"] == "gpu-node-1"
    assert (out / "pod.log").read_text() == log.read_text()
    assert [verb(c) for c in calls(tmp_path)] == ["get", "logs"]
