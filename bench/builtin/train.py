"""The built-in benchmark: torchvision Mask R-CNN R-50-FPN trained with the Detectron baseline settings.

    python -m bench.builtin.train --data COCO_ROOT --output DIR [--device auto|cuda|cpu] ...
    python -m torch.distributed.run --nproc_per_node=N -m bench.builtin.train ...   (DDP on N GPUs)

Real training: a pycocotools COCO-format dataset, a DataLoader with workers, SGD steps, DDP under torchrun
(nccl on GPU, gloo on CPU: N CPU processes run the same code as N GPUs), cudnn.benchmark on GPU. Progress is
printed in the torchvision reference format (references/detection: MetricLogger.log_every, `time` = mean of
the last 20 iteration times). It trains for a long schedule until it is stopped: SIGTERM or SIGINT ends it
cleanly at the next iteration (exit 0); with several processes they agree on the iteration to stop after, so
none waits in a collective for a peer that left.

Detectron baseline settings used: 2 images per GPU, SGD momentum 0.9, weight decay 1e-4, lr 0.02 x global
batch / 16, linear warm-up (factor 1/3 over 500 iterations), lr steps at 60k and 80k (x 16 / global batch),
shorter side 800 / longer side <= 1333, horizontal flip only. Deviations (printed and written to
builtin-config.json): no pretrained weights are downloaded (random initialisation); see `deviations()`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

STOP: dict = {"signal": None, "at": 0.0}
# torchrun forwards to its workers the SIGTERM bench sends every process of a run: the same signal again this
# soon is that one stop, not a second request to stop at once.
REPEAT_S = 2.0


STOP_KEY = "~stop"  # sorts after every loss name: the losses keep their order in the reduction


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.builtin.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="COCO-layout root (train2017/, annotations/)")
    p.add_argument("--split", default="train2017", help="image folder / annotation split name")
    p.add_argument("--output", type=Path, default=None, help="directory for builtin-config.json")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--batch-size", "-b", type=int, default=2, help="images per process (per GPU)")
    p.add_argument("--workers", "-j", type=int, default=4, help="DataLoader worker processes per process")
    p.add_argument("--min-size", type=int, default=800, help="shorter side after resizing")
    p.add_argument("--max-size", type=int, default=1333, help="longer side at most")
    p.add_argument("--num-classes", type=int, default=91,
                   help="classes incl. background (COCO ids as labels)")
    p.add_argument("--roi-batch-size", type=int, default=512,
                   help="RoIs sampled per image for the box head (Detectron: 512); the smoke preset "
                        "lowers it")
    p.add_argument("--rpn-post-nms-top-n", type=int, default=2000,
                   help="proposals kept per image after NMS in training (torchvision: 2000)")
    p.add_argument("--base-lr", type=float, default=0.02,
                   help="lr for a global batch of 16 (scaled linearly)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup-iters", type=int, default=500)
    p.add_argument("--warmup-factor", type=float, default=1.0 / 3)
    p.add_argument("--norm", choices=["bn", "frozen"], default="bn",
                   help="backbone norm: 'bn' is what maskrcnn_resnet50_fpn builds without weights (trainable "
                        "BatchNorm, all stages trainable); 'frozen' is Detectron's FrozenBN with stem+res2 "
                        "frozen")
    p.add_argument("--iterations", type=int, default=0,
                   help="schedule length (0: Detectron's 1x, 90k x 16 / global batch); the harness stops "
                        "it sooner")
    p.add_argument("--print-freq", type=int, default=20)
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads per process (0: torch's default)")
    p.add_argument("--amp", action="store_true", help="mixed precision (off: the Detectron baseline is FP32)")
    p.add_argument("--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false",
                   help="leave cudnn.benchmark off on GPU (the other current implementations' default)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def deviations(args: argparse.Namespace) -> list[str]:
    out = ["random initialisation: no ImageNet-pretrained backbone (nothing may be downloaded); "
           "throughput is unaffected, accuracy is not meaningful"]
    if args.norm == "bn":
        out.append("backbone uses trainable BatchNorm with all 5 stages trainable (what torchvision builds "
                   "without pretrained weights), not Detectron's FrozenBN with stem+res2 frozen")
    out.append("batches are not grouped by aspect ratio (torchvision reference default: grouped)")
    if args.min_size != 800 or args.max_size != 1333:
        out.append(f"images resized to shorter side {args.min_size} / longer side <= {args.max_size}, "
                   "not 800/1333")
    if args.roi_batch_size != 512 or args.rpn_post_nms_top_n != 2000:
        out.append(f"{args.roi_batch_size} RoIs sampled per image (Detectron: 512) and "
                   f"{args.rpn_post_nms_top_n} RPN proposals per image (torchvision: 2000)")
    if args.amp:
        out.append("mixed precision (Detectron baseline: FP32)")
    return out


def build_model(args: argparse.Namespace):
    import torchvision
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops.misc import FrozenBatchNorm2d

    heads = {"num_classes": args.num_classes, "min_size": args.min_size, "max_size": args.max_size,
             "box_batch_size_per_image": args.roi_batch_size,
             "rpn_post_nms_top_n_train": args.rpn_post_nms_top_n}
    if args.norm == "bn":
        return torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                                                  **heads)
    # What maskrcnn_resnet50_fpn builds with a pretrained backbone (FrozenBN, 3 trainable stages), without
    # one.
    backbone = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(backbone, 3)
    return MaskRCNN(backbone, **heads)


def _on_signal(signum, frame) -> None:
    name = signal.Signals(signum).name
    if STOP["signal"] is not None:
        if name == STOP["signal"] and time.monotonic() - STOP["at"] < REPEAT_S:
            return
        raise KeyboardInterrupt  # a second request: stop now
    STOP["signal"], STOP["at"] = name, time.monotonic()


def setup_distributed(device_kind: str):
    """(rank, world size, local rank); initialises the process group under torchrun."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1:
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
        dist.barrier()
    return rank, world, local_rank


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from bench.builtin import coco_data
    from bench.builtin.metric_logger import MetricLogger, SmoothedValue, reduce_dict

    device_kind = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device_kind == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device is available", file=sys.stderr)
        return 2
    rank, world, local_rank = setup_distributed(device_kind)
    if rank != 0:  # the reference's setup_for_distributed: only rank 0 prints
        sys.stdout = open(os.devnull, "w")
    if device_kind == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
    else:
        device = torch.device("cpu")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    # What decides FP32 math on Ampere and later (TF32), as this process has it: the record keeps the line.
    print(f"precision: amp={args.amp} float32_matmul_precision={torch.get_float32_matmul_precision()} "
          f"cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32} "
          f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32} "
          f"cudnn.benchmark={torch.backends.cudnn.benchmark}",
          flush=True)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    torch.manual_seed(args.seed + rank)
    random.seed(args.seed + rank)

    global_batch = args.batch_size * world
    lr = args.base_lr * global_batch / 16
    # The reference's init_distributed_mode sets these on args before `print(args)`: the printed Namespace is
    # where the log says its batch (batch_size per process x world_size), read by bench.logs.torchvision.
    args.world_size, args.distributed = world, world > 1
    print(args, flush=True)
    print(f"bench builtin: device {device_kind}, {world} process(es) x {args.batch_size} images = "
          f"global batch {global_batch}, lr {lr:g}, torch {torch.__version__}", flush=True)
    for text in deviations(args):
        print(f"bench builtin: deviation: {text}", flush=True)

    print("Loading data", flush=True)
    image_dir, annotation_file = coco_data.locate(args.data, args.split)
    dataset = coco_data.CocoDetection(image_dir, annotation_file, train=True, num_classes=args.num_classes)
    print("Creating data loaders", flush=True)
    total = args.iterations or 90000 * 16 // (args.batch_size * world)
    batches = coco_data.RepeatedBatches(dataset, args.batch_size, total, seed=args.seed, rank=rank,
                                        world=world)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=batches, num_workers=args.workers, collate_fn=coco_data.collate,
        worker_init_fn=coco_data.worker_init, pin_memory=device_kind == "cuda")

    print("Creating model", flush=True)
    model = build_model(args).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=args.momentum, weight_decay=args.weight_decay)
    steps = [60000 * 16 // global_batch, 80000 * 16 // global_batch]

    def lr_factor(it: int) -> float:
        warm = 1.0
        if it < args.warmup_iters:
            alpha = it / args.warmup_iters
            warm = args.warmup_factor * (1 - alpha) + alpha
        return warm * 0.1 ** sum(it >= s for s in steps)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model_ddp = model
    if world > 1:
        model_ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device_kind == "cuda" else None)
    scaler = torch.amp.GradScaler(device_kind) if args.amp else None
    if rank == 0 and args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        config.update(world_size=world, global_batch=global_batch, lr=lr, device=device_kind,
                      model="torchvision maskrcnn_resnet50_fpn", deviations=deviations(args),
                      torch=torch.__version__)
        (args.output / "builtin-config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    print("Start training", flush=True)
    start_time = time.time()
    iteration = 0
    model_ddp.train()
    logger = MetricLogger(delimiter="  ")
    logger.add_meter("lr", SmoothedValue(window_size=1, fmt="{value:.6f}"))
    # One "epoch" spanning the whole iteration-based schedule (Detectron is iteration-based): the progress
    # lines are numbered 0..N-1 without restarting, whatever the dataset's size.
    stop_agreed = False
    for images, targets in logger.log_every(loader, args.print_freq, "Epoch: [0]",
                                            cuda=device_kind == "cuda"):
        if stop_agreed:  # checked after the logger printed the previous iteration's line
            break
        images = [image.to(device, non_blocking=True) for image in images]
        targets = [{k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                    for k, v in t.items()} for t in targets]
        with torch.autocast(device_type=device_kind, enabled=args.amp):
            loss_dict = model_ddp(images, targets)
            losses = sum(loss_dict.values())
        # Whether any process was asked to stop travels in the reduction the losses take anyway (no extra
        # collective): every process then leaves after the same iteration.
        stop_flag = torch.tensor(1.0 if STOP["signal"] else 0.0, device=device)
        loss_dict_reduced = reduce_dict({**loss_dict, STOP_KEY: stop_flag})
        stop_agreed = bool(loss_dict_reduced.pop(STOP_KEY) > 0)
        losses_reduced = sum(loss_dict_reduced.values())
        loss_value = losses_reduced.item()
        if not math.isfinite(loss_value):
            print(f"Loss is {loss_value}, stopping training", flush=True)
            print(loss_dict_reduced, flush=True)
            return 1
        optimizer.zero_grad()
        if scaler is not None:
            scaler.scale(losses).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            losses.backward()
            optimizer.step()
        scheduler.step()
        iteration += 1
        logger.update(loss=losses_reduced, **loss_dict_reduced)
        logger.update(lr=optimizer.param_groups[0]["lr"])
    why = (f"received {STOP['signal']}" if STOP["signal"]
           else "another process was asked to stop" if stop_agreed else "the schedule ended")
    total = str(datetime.timedelta(seconds=int(time.time() - start_time)))
    print(f"bench builtin: stopped cleanly ({why}) after {iteration} iterations", flush=True)
    print(f"Training time {total}", flush=True)
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
