"""A stand-in trainer: a real child process that prints progress lines in one implementation's exact log
format (the format strings of shared/reference/log-formats.md) at a pace set here, so the truth is known.

Iteration i (0-based) lasts TIMES[i % len(TIMES)] seconds. The pace is kept against absolute deadlines, so the
wall time of any run of iterations is the sum of their durations (sleep overshoot does not accumulate). The
printed times are what the framework would print: measured with time.time() between iterations and smoothed
exactly as that framework smooths them. Runs a 90,000-iteration schedule unless stopped.

    python tests/trainer_standin.py --format torchvision --times 0.02,0.03
        [--log-file PATH] [--crash-at N] [--grandchild] [--escaped-grandchild] [--ignore-sigterm]
        [--pid-file PATH] [--data-fraction F] [--chatter K] [--busy] [--max-iter N] [--print-batch B,W]
        [--rank0-only]

--workers K forks K worker processes per iteration, each doing the iteration's --busy work beside the trainer;
they end (and are reaped) before the iteration does. --cpu-file PATH appends, after every iteration,
"<time.monotonic()> <CPU seconds of the trainer and its reaped workers>" (os.times()): the CPU the stand-in
knows it used, on the harness clock.

--print-batch B,W prints, before training starts, the line in which the real trainer states its batch: B
images per process on W processes (torchvision's `print(args)` Namespace; detectron2's "Command line
arguments" line with the global SOLVER.IMS_PER_BATCH = B * W).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from statistics import median

FORMATS = ("torchvision", "detectron2", "mmdet-v2", "maskrcnn-benchmark", "detectron")
SLEEPER = "import signal, sys, time\n" \
          "if 'stubborn' in sys.argv: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" \
          "if 'escape' in sys.argv:\n import os; os.setsid()\nwhile True: time.sleep(0.5)\n"


def asctime_ms() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now * 1000) % 1000:03d}"


def d2_time() -> str:
    return time.strftime("%m/%d %H:%M:%S")


class Printer:
    """Knows when a format prints and what its numbers mean; `after(i)` is called when 0-based i has ended."""

    def __init__(self, fmt: str, times: list[float], data: list[float], log_file, epoch_len: int) -> None:
        self.fmt, self.times, self.data, self.log_file, self.epoch_len = fmt, times, data, log_file, epoch_len

    def emit(self, console: str, file_line: str | None = None, stream=None) -> None:
        print(console, file=stream or sys.stdout, flush=True)
        if self.log_file is not None:
            self.log_file.write((file_line if file_line is not None else console) + "\n")
            self.log_file.flush()

    def batch(self, per_process: int, world: int) -> None:
        """The trainer's own statement of its batch, in its format (torchvision references/detection/train.py
        main: print(args) after init_distributed_mode; detectron2 engine/defaults.py default_setup)."""
        if self.fmt == "torchvision":
            self.emit("Namespace(data_path='/data/coco', dataset='coco', model='maskrcnn_resnet50_fpn', "
                      f"device='cuda', batch_size={per_process}, epochs=26, workers=4, lr=0.02, "
                      "momentum=0.9, weight_decay=0.0001, "
                      f"print_freq=20, output_dir='.', world_size={world}, dist_url='env://', rank=0, gpu=0, "
                      f"distributed={world > 1}, dist_backend='nccl')")
        elif self.fmt == "detectron2":
            args = ("Namespace(config_file="
                    "'configs/Detectron1-Comparisons/mask_rcnn_R_50_FPN_noaug_1x.yaml', "
                    f"resume=False, eval_only=False, num_gpus={world}, num_machines=1, machine_rank=0, "
                    "dist_url='tcp://127.0.0.1:50152', "
                    f"opts=['SOLVER.IMS_PER_BATCH', '{per_process * world}'])")
            self.emit(f"[{d2_time()} detectron2]: Command line arguments: {args}",
                      f"[{d2_time()}] detectron2 INFO: Command line arguments: {args}")
        else:
            raise SystemExit(f"--print-batch: not written for format {self.fmt}")

    def start(self) -> None:
        if self.fmt == "torchvision":
            self.emit("Start training")
        elif self.fmt == "detectron2":
            self.emit(f"[{d2_time()} d2.engine.train_loop]: Starting training from iteration 0",
                      f"[{d2_time()}] d2.engine.train_loop INFO: Starting training from iteration 0")
        elif self.fmt == "mmdet-v2":
            self.emit(f"{asctime_ms()} - mmdet - INFO - Start running, host: bench@standin, "
                      "work_dir: ./work_dirs", stream=sys.stderr)
            self.emit(f"{asctime_ms()} - mmdet - INFO - workflow: [('train', 1)], max: 12 epochs",
                      stream=sys.stderr)
        elif self.fmt == "maskrcnn-benchmark":
            self.emit(f"{asctime_ms()} maskrcnn_benchmark.trainer INFO: Start training")
        elif self.fmt == "detectron":
            self.emit("INFO train.py: 180: Outputs saved to: ./train/coco_2014_train/generalized_rcnn")

    def after(self, i: int) -> None:
        getattr(self, "_" + self.fmt.replace("-", "_"))(i)

    def _torchvision(self, i: int) -> None:
        epoch, index = divmod(i, self.epoch_len)
        if index % 20 and index != self.epoch_len - 1:
            return
        first = i - min(index, 19)
        mean_t = sum(self.times[first:i + 1]) / (i + 1 - first)
        mean_d = sum(self.data[first:i + 1]) / (i + 1 - first)
        width = len(str(self.epoch_len))
        self.emit(f"Epoch: [{epoch}]  [{index:{width}d}/{self.epoch_len}]  eta: 0:44:12  lr: 0.002018  "
                  f"loss: 1.5234 (2.0123)  loss_box_reg: 0.2012 (0.1811)  loss_classifier: 0.3921 (0.4812)  "
                  "loss_mask: 0.6231 (0.7012)  loss_objectness: 0.0721 (0.2110)  "
                  "loss_rpn_box_reg: 0.0612 (0.0911)  "
                  f"time: {mean_t:.4f}  data: {mean_d:.4f}  max mem: 4412")

    def _detectron2(self, i: int) -> None:
        if (i + 1) % 20:
            return
        timed = self.times[2:i + 1]  # IterationTimer skips indices 0 and 1
        global_avg = sum(timed) / len(timed)
        data = self.data[max(0, i - 19):i + 1]
        message = (f" eta: 6:31:05  iter: {i}  total_loss: 1.532  loss_cls: 0.412  loss_box_reg: 0.301  "
                   f"loss_mask: 0.598  loss_rpn_cls: 0.101  loss_rpn_loc: 0.088  time: {global_avg:.4f}  "
                   f"data_time: {sum(data) / len(data):.4f}  lr: 0.001998  max_mem: 3105M")
        self.emit(f"[{d2_time()} d2.utils.events]: {message}",
                  f"[{d2_time()}] d2.utils.events INFO: {message}")

    def _mmdet_v2(self, i: int) -> None:
        epoch, index = divmod(i, self.epoch_len)
        if (index + 1) % 50:
            return
        mean_t = sum(self.times[i - 49:i + 1]) / 50
        mean_d = sum(self.data[i - 49:i + 1]) / 50
        self.emit(f"{asctime_ms()} - mmdet - INFO - Epoch [{epoch + 1}][{index + 1}/{self.epoch_len}]\t"
                  f"lr: 0.00398, eta: 8:02:13, time: {mean_t:.3f}, data_time: {mean_d:.3f}, memory: 3712, "
                  f"loss_rpn_cls: 0.3112, loss_rpn_bbox: 0.0921, loss_cls: 0.9123, acc: 87.6543, "
                  f"loss_bbox: 0.2210, loss_mask: 0.7012, loss: 2.2378", stream=sys.stderr)

    def _maskrcnn_benchmark(self, i: int) -> None:
        iteration = i + 1
        if iteration % 20:
            return
        last_t, last_d = self.times[i - 19:i + 1], self.data[i - 19:i + 1]
        g_t, g_d = sum(self.times[:i + 1]) / iteration, sum(self.data[:i + 1]) / iteration
        self.emit(f"{asctime_ms()} maskrcnn_benchmark.trainer INFO: eta: 6:20:41  iter: {iteration}  "
                  f"loss: 1.6021 (2.1034)  loss_box_reg: 0.1912 (0.1533)  loss_classifier: 0.4120 (0.5511)  "
                  "loss_mask: 0.6012 (0.6687)  loss_objectness: 0.1903 (0.4410)  "
                  "loss_rpn_box_reg: 0.1101 (0.2893)  "
                  f"time: {median(last_t):.4f} ({g_t:.4f})  data: {median(last_d):.4f} ({g_d:.4f})  "
                  f"lr: 0.009333  max mem: 3350")

    def _detectron(self, i: int) -> None:
        if i % 20:
            return
        timed = self.times[:i + 1] if i <= 20 else self.times[21:i + 1]  # the timer is reset after iter 20
        stats = {"accuracy_cls": "0.901234", "eta": "19:45:12", "iter": i, "loss": "1.534567",
                 "loss_bbox": "0.112345", "loss_cls": "0.401234", "loss_mask": "0.612345", "lr": "0.004680",
                 "mb_qsize": 64, "mem": 6912, "time": f"{sum(timed) / len(timed):.6f}"}
        self.emit("json_stats: " + json.dumps(stats, sort_keys=True))


def recipe_text(log_format: str, *, window: tuple[int, int], args: str = "", stream: str = "stdout",
                log_path: str | None = None, name: str = "standin") -> str:
    """A user-written recipe (variant "builtin", no source, CPU) that runs this stand-in: what tests and the
    overhead benchmark give `bench run --recipe`. `args` are the stand-in's arguments after --format."""
    log = f'stream = "{stream}"\nformat = "{log_format}"\n' + (f'path = "{log_path}"\n' if log_path else "")
    return f'''name = "{name}"
title = "stand-in trainer ({log_format}, {stream})"
family = "standin"
variant = "builtin"
command = "{{python}} {os.path.abspath(__file__)} --format {log_format} {args}"
images_per_iter = "2 * gpus"
gpus = 0
allowed = {{ gpus = [0] }}
[framework]
name = "stand-in"
version = "1"
[log]
{log}[window]
start = {window[0]}
end = {window[1]}
[stack]
python = "3.11"
framework = "none"
image = "python:3.11-slim"
'''


def spawn_grandchildren(args) -> list[int]:
    extra = ["stubborn"] if args.ignore_sigterm else []
    pids = []
    if args.grandchild:
        pids.append(subprocess.Popen([sys.executable, "-c", SLEEPER, *extra]).pid)
    if args.escaped_grandchild:
        pids.append(subprocess.Popen([sys.executable, "-c", SLEEPER, "escape", *extra]).pid)
    return pids


def burn(seconds_of_work: int) -> None:
    x = 0
    for k in range(seconds_of_work):
        x += k * k
    return None


def work(loops: int, workers: int) -> None:
    """The iteration's CPU work, in this process and in `workers` forked ones (reaped before returning)."""
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            burn(loops)
            os._exit(0)
        children.append(pid)
    burn(loops)
    for pid in children:
        os.waitpid(pid, 0)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--format", choices=FORMATS, required=True)
    ap.add_argument("--times", default="0.02,0.03", help="seconds per iteration, cycled")
    ap.add_argument("--max-iter", type=int, default=90_000)
    ap.add_argument("--epoch-len", type=int, default=7330)
    ap.add_argument("--data-fraction", type=float, default=0.05, help="printed data time / iteration time")
    ap.add_argument("--log-file", help="also write every line (file prefix) to this file, like log.txt")
    ap.add_argument("--crash-at", type=int, help="raise after this many iterations")
    ap.add_argument("--grandchild", action="store_true")
    ap.add_argument("--escaped-grandchild", action="store_true", help="a grandchild that calls setsid()")
    ap.add_argument("--ignore-sigterm", action="store_true")
    ap.add_argument("--pid-file")
    ap.add_argument("--chatter", type=int, default=0, help="other-logger lines printed per iteration")
    ap.add_argument("--busy", type=int, default=0,
                    help="fixed CPU work per iteration instead of a paced sleep")
    ap.add_argument("--print-batch", help="B,W: print the trainer's batch line (B per process, W processes)")
    ap.add_argument("--workers", type=int, default=0, help="worker processes forked per --busy iteration")
    ap.add_argument("--cpu-file", help="append 'monotonic_s cpu_s' after every iteration")
    ap.add_argument("--close-output-at", type=int,
                    help="after this many iterations close stdout and stderr, and go on training silently")
    ap.add_argument("--rank0-only", action="store_true",
                    help="under torchrun, only RANK 0 prints (a distributed trainer's setup_for_distributed)")
    args = ap.parse_args(argv)
    if args.rank0_only and os.environ.get("RANK", "0") != "0":
        sys.stdout = open(os.devnull, "w")

    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchildren = spawn_grandchildren(args)
    if args.pid_file:
        with open(args.pid_file, "w") as handle:
            json.dump({"trainer": os.getpid(), "grandchildren": grandchildren}, handle)
    cycle = [float(x) for x in args.times.split(",")]
    log_file = open(args.log_file, "a", encoding="utf-8") if args.log_file else None
    cpu_file = open(args.cpu_file, "a", encoding="ascii", buffering=1) if args.cpu_file else None
    measured: list[float] = []
    data: list[float] = []
    printer = Printer(args.format, measured, data, log_file, args.epoch_len)
    if args.print_batch:
        printer.batch(*(int(x) for x in args.print_batch.split(",")))
    printer.start()
    t0 = last = time.time()
    deadline = time.perf_counter()
    for i in range(args.max_iter):
        if args.crash_at is not None and i == args.crash_at:
            raise RuntimeError("CUDA error: an illegal memory access was encountered "
                               f"(stand-in, iteration {i})")
        if args.busy:
            work(args.busy, args.workers)
        else:
            deadline += cycle[i % len(cycle)]
            pause = deadline - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        for k in range(args.chatter):
            print(f"[{d2_time()} other.logger]: chatter {i}.{k} " + "x" * 60, flush=True)
        now = time.time()
        measured.append(now - last)
        data.append(args.data_fraction * (now - last))
        last = now
        if cpu_file is not None:
            cpu_file.write(f"{time.monotonic():.6f} {cpu_seconds():.4f}\n")
        printer.after(i)
        if args.close_output_at is not None and i + 1 == args.close_output_at:
            os.close(1)
            os.close(2)
            sys.stdout = sys.stderr = open(os.devnull, "w")  # what it prints from now on goes nowhere
    print(f"Training time {time.time() - t0:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
