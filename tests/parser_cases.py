"""Log writers for the parser tests: each prints what its framework prints, from per-iteration times chosen
here.

Every writer takes `times` (seconds of 0-based iteration i) and computes the printed value the way the
framework does (running mean, mean of the last N, rate over an interval, seconds per epoch), with the
framework's print precision. The tests compute the expected throughput from `times` directly, never through
bench's window code. No test functions live here.
"""

from __future__ import annotations

import json
from collections.abc import Callable

ESC_GREEN, ESC_RESET = "\x1b[32m", "\x1b[0m"
PER_100 = [0.41, 0.30, 0.26, 0.28, 0.25, 0.27, 0.31, 0.29]


def step_times(n: int = 600, bases: list[float] = PER_100, delta: float = 0.004) -> list[float]:
    """Times that vary every iteration (+-delta alternating) around a level that changes every 100 iterations,
    so that every 10/20/50-iteration window aligned on its size has mean == median == its level."""
    return [bases[(i // 100) % len(bases)] + (delta if i % 2 else -delta) for i in range(n)]


def expected_img_s(times: list[float], start: int, end: int, images_per_iter: int = 16) -> float:
    """Images over seconds for completed iterations (start, end], i.e. 0-based indices start..end-1."""
    return (end - start) * images_per_iter / sum(times[start:end])


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# ---- detectron2 --------------------------------------------------------------------------------------------
def detectron2_lines(times: list[float], console: bool = True, current: bool = False, start_iter: int = 0,
                     ansi: bool = False) -> list[str]:
    def prefix(name: str, level: str = "INFO") -> str:
        if console:
            text = f"[05/14 10:02:11 {name}]: "
            return f"{ESC_GREEN}{text}{ESC_RESET}" if ansi else text
        return f"[05/14 10:02:11] {name} {level}: "

    lines = [prefix("d2.engine.defaults") + "Model:", "GeneralizedRCNN(", ")",
             prefix("d2.engine.train_loop") + f"Starting training from iteration {start_iter}"]
    for k in range(start_iter, len(times)):
        if (k + 1) % 20:
            continue
        avg = mean(times[start_iter + 2: k + 1])  # IterationTimer skips the first two of the run
        if current:
            timing = (f"time: {avg:.4f}  last_time: {times[k]:.4f}  data_time: 0.0093  "
                      "last_data_time: 0.0081   ")
            losses = "total_loss: 1.532  loss_cls: 0.412  loss_mask: 0.5981"
        else:
            timing = f"time: {avg:.4f}  data_time: 0.0093  "
            losses = "total_loss: 1.532  loss_cls: 0.412  loss_box_reg: 0.301  loss_mask: 0.598"
        lines.append(prefix("d2.utils.events") + f" eta: 6:31:05  iter: {k}  {losses}  {timing}"
                     f"lr: 0.001998  max_mem: 3105M")
    lines.append(prefix("d2.engine.hooks")
                 + "Overall training speed: 597 iterations in 0:02:40 (0.2601 s / it)")
    return lines


def detectron2_metrics_lines(times: list[float]) -> list[str]:
    lines = []
    for k in range(19, len(times), 20):
        window = sorted(times[max(2, k - 19): k + 1])
        med = (window[len(window) // 2] + window[(len(window) - 1) // 2]) / 2
        lines.append(json.dumps({"data_time": 0.008912, "eta_seconds": 23465.12, "iteration": k,
                                 "loss_cls": 0.41233, "lr": 0.001998, "time": med, "total_loss": 1.53201},
                                sort_keys=True))
    lines.append(json.dumps({"bbox/AP": 12.3, "iteration": len(times) - 1}))
    return lines


# ---- mmdetection 2.x (mmcv) --------------------------------------------------------------------------------
def mmdet_v2_lines(times: list[float], length: int = 7330, interval: int = 50, lr_exp: bool = False,
                   epochs: int = 1) -> list[str]:
    lines = ["2020-05-14 10:02:40,100 - mmdet - INFO - Start running, host: user@node1, work_dir: /w",
             "2020-05-14 10:02:40,101 - mmdet - INFO - workflow: [('train', 1)], max: 12 epochs"]
    for i in range(len(times)):
        epoch, inner = i // length + 1, i % length + 1
        if inner % interval:
            continue
        avg = mean(times[i + 1 - interval: i + 1])
        lr = f"{0.00398:.3e}" if lr_exp else f"{0.00398:.5f}"
        lines.append(f"2020-05-14 10:03:10,512 - mmdet - INFO - Epoch [{epoch}][{inner}/{length}]\tlr: {lr}, "
                     f"eta: 8:02:13, time: {avg:.3f}, data_time: 0.011, memory: 3712, loss_rpn_cls: 0.3112, "
                     f"loss_rpn_bbox: 0.0921, loss_cls: 0.9123, acc: 87.6543, loss_bbox: 0.2210, "
                     f"loss_mask: 0.7012, loss: 2.2378")
    return lines


def mmdet_v2_json_lines(times: list[float], length: int = 7330, interval: int = 50) -> list[str]:
    lines = [json.dumps({"env_info": "sys.platform: linux", "seed": None})]
    for i in range(len(times)):
        epoch, inner = i // length + 1, i % length + 1
        if inner % interval:
            continue
        lines.append(json.dumps({"mode": "train", "epoch": epoch, "iter": inner, "lr": 0.00398,
                                 "time": round(mean(times[i + 1 - interval: i + 1]), 5), "data_time": 0.01102,
                                 "memory": 3712, "loss_cls": 0.91231, "loss": 2.23786}))
    lines.append(json.dumps({"mode": "val", "epoch": 1, "iter": 625, "lr": 0.00398, "bbox_mAP": 0.1}))
    return lines


# ---- mmengine ----------------------------------------------------------------------------------------------
def mmengine_lines(times: list[float], length: int = 7330, interval: int = 50, window: int = 50,
                   by_epoch: bool = True, config: bool = True) -> list[str]:
    lines = ["2023/03/13 10:30:01 - mmengine - INFO - Config:"]
    if config:
        lines.append(f"log_processor = dict(by_epoch=True, type='LogProcessor', window_size={window})")
    lines.append("2023/03/13 10:31:00 - mmengine - INFO - Checkpoints will be saved to /w by "
                 "HardDiskBackend.")
    for i in range(len(times)):
        done = i + 1
        inner = i % length + 1 if by_epoch else done
        if inner % interval:
            continue
        avg = mean(times[max(0, done - window): done])
        if by_epoch:
            head = f"Epoch(train)  [{i // length + 1}][{inner:{len(str(length))}d}/{length}]"
        else:
            head = f"Iter(train) [{done:{len(str(90000))}d}/90000]"
        lines.append(f"2023/03/13 10:31:41 - mmengine - INFO - {head}  base_lr: 2.0000e-02 lr: 2.0000e-02  "
                     f"eta: 1 day, 2:03:04  time: {avg:.4f}  data_time: 0.0100  memory: 4000  "
                     "grad_norm: 3.1  "
                     f"loss: 1.2345  loss_rpn_cls: 0.1234  loss_mask: 0.5000")
    return lines


# ---- maskrcnn-benchmark ------------------------------------------------------------------------------------
def maskrcnn_benchmark_lines(times: list[float], start_iter: int = 0) -> list[str]:
    lines = ["2020-05-14 10:04:25,001 maskrcnn_benchmark.trainer INFO: Start training"]
    for k in range(start_iter + 1, len(times) + 1):
        if k % 20:
            continue
        g = mean(times[start_iter:k])
        med = sorted(times[k - 20:k])[10]
        lines.append(f"2020-05-14 10:04:55,337 maskrcnn_benchmark.trainer INFO: eta: 6:20:41  iter: {k}  "
                     f"loss: 1.6021 (2.1034)  loss_box_reg: 0.1912 (0.1533)  loss_mask: 0.6012 (0.6687)  "
                     f"time: {med:.4f} ({g:.4f})  data: 0.0081 (0.0235)  lr: 0.009333  max mem: 3350")
    return lines


# ---- tensorpack --------------------------------------------------------------------------------------------
def tensorpack_lines(times: list[float], steps: int = 50, gpus: int = 8, ranks: int = 1, tagged: bool = False,
                     ansi: bool = True, tqdm: bool = False) -> list[str]:
    """rank-0 log.log (ranks=1), or stdout of `ranks` ranks whose copies interleave."""
    def stamp(where: str) -> str:
        text = f"[0514 10:10:09 @{where}]"
        return f"{ESC_GREEN}{text}{ESC_RESET}" if ansi else text

    per_rank: list[list[str]] = [[] for _ in range(ranks)]
    for rank in range(ranks):
        out = per_rank[rank]
        out.append(stamp("config.py:309") + " Config: ------------------------------------------")
        for epoch in range(1, len(times) // steps + 1):
            out.append(stamp("base.py:275") + f" Start Epoch {epoch} ...")
            if tqdm:
                out.append(f"  0%|          |0/{steps}[00:00<?,?it/s]\r100%|##########|{steps}/{steps}"
                           f"[00:08<00:00, 6.21it/s]")
            seconds = sum(times[(epoch - 1) * steps: epoch * steps])
            jitter = 1 + 0.00005 * rank  # each rank's own timer
            out.append(stamp("base.py:285") + f" Epoch {epoch} (global_step {epoch * steps}) finished, "
                       f"time:{seconds:.3g} seconds.")
            out.append(stamp("misc.py:109") + " Estimated Time Left: 8 hours 2 minutes 11 seconds")
            out.append(stamp("monitor.py:474") + " QueueInput/queue_size: 50")
            out.append(stamp("monitor.py:474")
                       + f" Throughput (samples/sec): {steps * gpus / seconds / jitter:.5g}")
            out.append(stamp("monitor.py:474") + " learning_rate: 0.0039")
            out.append(stamp("monitor.py:474") + " total_cost: 1.2345")
    if tagged:
        per_rank = [[f"[1,{r}]<stdout>:{line}" for line in lines] for r, lines in enumerate(per_rank)]
    # Interleave: round-robin, rank order rotating, so that a non-zero rank is often first.
    merged: list[str] = []
    for i in range(max(len(p) for p in per_rank)):
        for r in range(ranks):
            rank = per_rank[(r + i) % ranks]
            if i < len(rank):
                merged.append(rank[i])
    return merged


# ---- SimpleDet ---------------------------------------------------------------------------------------------
def simpledet_lines(times: list[float], batch: int = 16, frequent: int = 10) -> list[str]:
    lines = ["05-14 18:19:00 lr mode: step", "05-14 18:19:02 MEM usage: 9123 MiB"]
    for nbatch in range(len(times)):
        if nbatch == 0 or nbatch % frequent:
            continue  # nbatch 0 only starts the timer
        seconds = sum(times[nbatch + 1 - frequent: nbatch + 1])
        lines.append(f"05-14 18:20:31 Epoch[0] Batch [{nbatch}]\tSpeed: {frequent * batch / seconds:.2f} "
                     f"samples/sec\tTrain-RpnAcc=0.981234,\tRpnL1=0.412345,\tRcnnAcc=0.912345,\tRcnnL1=0.601234,\t")
    return lines


# ---- Detectron ---------------------------------------------------------------------------------------------
def detectron_lines(times: list[float], start_iter: int = 0) -> list[str]:
    lines = ["INFO train_net.py: 106: Training with config:",
             "INFO train.py: 180: Outputs saved to: /data/Detectron/train/generalized_rcnn"]
    if start_iter:
        lines.append(f"INFO train.py: 120: ========> Resuming from checkpoint "
                     f"/o/model_iter{start_iter - 1}.pkl at start iter {start_iter}")
    for k in range(start_iter, len(times)):
        if k % 20 and k != len(times) - 1:
            continue
        first = start_iter if k <= start_iter + 20 else start_iter + 21
        stats = {"accuracy_cls": "0.901234", "eta": "19:45:12", "iter": k, "loss": "1.534567",
                 "loss_cls": "0.401234", "loss_mask": "0.612345", "lr": "0.004680", "mb_qsize": 64,
                 "mem": 6912, "time": f"{mean(times[first:k + 1]):.6f}"}
        lines.append("json_stats: " + json.dumps(stats, sort_keys=True))
    return lines


# ---- Keras -------------------------------------------------------------------------------------------------
def keras_lines(times: list[float], steps: int = 50, tty: bool = False, epochs_total: int = 40) -> list[str]:
    lines = ["Starting at epoch 0. LR=0.02", "Checkpoint Path: /logs/mask_rcnn_{epoch:04d}.h5"]
    metrics = (" - loss: 2.0345 - rpn_class_loss: 0.0512 - rpn_bbox_loss: 0.4987 - mrcnn_class_loss: 0.4011"
               " - mrcnn_bbox_loss: 0.4870 - mrcnn_mask_loss: 0.5965")
    for epoch in range(1, len(times) // steps + 1):
        lines.append(f"Epoch {epoch}/{epochs_total}")
        elapsed = sum(times[(epoch - 1) * steps: epoch * steps])
        per_step = elapsed / steps
        unit = f"{per_step:.0f}s/step" if per_step >= 1 else f"{per_step * 1000:.0f}ms/step"
        renders = []
        for step in range(1, steps + 1):
            done = int(30 * step / steps)
            bar = "=" * done if step == steps else "=" * (done - 1) + ">" * (done > 0) + "." * (30 - done)
            bar = bar.ljust(30, ".")
            if step < steps:
                renders.append(f"{step:2d}/{steps} [{bar}] - ETA: 59s{metrics}")
            else:
                renders.append(f"{step:2d}/{steps} [{bar}] - {elapsed:.0f}s {unit}{metrics}")
        # one physical line: every render erases the previous one with backspaces and a carriage return
        if tty:
            text = renders[0]
            for prev, nxt in zip(renders, renders[1:]):
                text += "\b" * len(prev) + "\r" + nxt
            lines.append(text)
        else:
            lines.append("")
            lines.extend(renders)
    return lines


# ---- torchvision -------------------------------------------------------------------------------------------
def torchvision_lines(times: list[float], length: int = 7329) -> list[str]:
    lines = ["Start training"]
    for i in range(len(times)):
        if i % 20:
            continue
        avg = mean(times[max(0, i - 19): i + 1])
        lines.append(f"Epoch: [0]  [{i:4d}/{length}]  eta: 0:44:12  lr: 0.002018  loss: 1.5234 (2.0123)  "
                     f"loss_mask: 0.6231 (0.7012)  time: {avg:.4f}  data: 0.0112  max mem: 4412")
    return lines


# Format -> (writer, completed-iteration window its grid covers, images per iteration, iterations to write)
KERAS_BASES = [1.2, 1.14, 1.16, 1.1, 1.18, 1.12, 1.14, 1.16]
def mllog(key: str, value, t_s: float, **metadata) -> str:
    """One MLPerf v0.7+ `:::MLLOG` POINT_IN_TIME event at `t_s` seconds since the epoch."""
    return ":::MLLOG " + json.dumps({"namespace": "", "time_ms": round(t_s * 1000),
                                     "event_type": "POINT_IN_TIME", "key": key, "value": value,
                                     "metadata": {"file": "t.py", "lineno": 1, **metadata}})


def mlperf_lines(times: list[float], batch: int = 16, start_s: float = 1_684_011_440.0) -> list[str]:
    """MLPerf v0.7+ `:::MLLOG` events as NVIDIA's Mask R-CNN prints them: global_batch_size, run_start, and
    tracked_stats every 50 steps whose value.time is the running mean since the start (see
    tests/test_mlperf.py)."""
    lines = [mllog("global_batch_size", batch, start_s - 30), mllog("run_start", None, start_s)]
    elapsed = 0.0
    for step, seconds in enumerate(times, 1):
        elapsed += seconds
        if step % 50 == 0:
            lines.append(mllog("tracked_stats", {"time": elapsed / step, "loss": 1.0,
                                                 "throughput": batch * step / elapsed},
                               start_s + elapsed, step=step))
    return lines


FORMATS: dict[str, tuple[Callable[[list[float]], list[str]], tuple[int, int], int]] = {
    "detectron2": (detectron2_lines, (100, 500), 16),
    "detectron2-metrics-json": (detectron2_metrics_lines, (100, 500), 16),
    "mmdet-v2": (mmdet_v2_lines, (100, 500), 16),
    "mmdet-v2-json": (mmdet_v2_json_lines, (100, 500), 16),
    "mmengine": (mmengine_lines, (100, 500), 16),
    "maskrcnn-benchmark": (maskrcnn_benchmark_lines, (100, 500), 16),
    "tensorpack": (tensorpack_lines, (100, 500), 8),
    "simpledet": (simpledet_lines, (101, 501), 16),
    "detectron": (detectron_lines, (101, 501), 16),
    "keras": (keras_lines, (100, 500), 16),
    "torchvision": (torchvision_lines, (101, 501), 16),
    "mlperf": (mlperf_lines, (100, 500), 16),
}


def times_for(name: str) -> list[float]:
    return step_times(600, KERAS_BASES, 0.01) if name == "keras" else step_times(600)
