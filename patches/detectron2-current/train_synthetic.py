"""Run detectron2's own tools/train_net.py on a COCO-format dataset that is not COCO (bench's synthetic data).

detectron2's built-in `coco_2017_train` carries COCO's 80 category names in its metadata, so a dataset with other
categories cannot be loaded under that name. This registers the dataset under `bench_synth_train`
(`register_coco_instances`, detectron2's documented way for custom COCO-format data), then runs tools/train_net.py
from the current directory (the checkout) as __main__ with the remaining arguments, unchanged. bench ships this
file; it is not detectron2 code.

Every training process gets the registration: tools/train_net.py hands its `main` to detectron2.engine.launch,
which calls it here for one process and otherwise pickles it into each process it spawns
(detectron2/engine/launch.py launch -> mp.start_processes, start method spawn @ 02b5c4e), where nothing of this
file would run. So `main` is wrapped in `InEveryProcess`, which spawned processes unpickle from this file (its
folder is on sys.path, which spawn copies) and which prepares the process before calling `main`.

On the CPU (MODEL.DEVICE cpu) with several processes, detectron2's launcher itself takes gloo
(launch.py _distributed_worker: "NCCL" if has_gpu else "GLOO"), but create_ddp_model passes
device_ids=[local rank] (detectron2/engine/defaults.py:72-73 @ 02b5c4e), which torch's DistributedDataParallel
refuses for a module on the CPU. For a model whose parameters are all on the CPU, and only then, this passes
device_ids=None, torch's form for CPU modules, and says so in the log; a GPU model is untouched.

Usage: python train_synthetic.py --data DIR [train_net.py arguments ...] DATASETS.TRAIN "('bench_synth_train',)"
"""

import os
import runpy
import sys

NAME = "bench_synth_train"


def register(data):
    """The dataset under NAME, once per process."""
    from detectron2.data import DatasetCatalog
    from detectron2.data.datasets import register_coco_instances

    if NAME not in DatasetCatalog.list():
        register_coco_instances(NAME, {}, os.path.join(data, "annotations", "instances_train2017.json"),
                                os.path.join(data, "train2017"))


def skip_collect_env():
    """default_setup() logs collect_env_info(), which calls detectron2._C's version helpers; on one GPU image
    (torch 2.11+cu130, _C built there) those calls crash although training never uses them. Opt-in only
    (BENCH_D2_NO_COLLECT_ENV): the report is replaced by one line, nothing else changes."""
    import detectron2.engine.defaults as defaults

    defaults.collect_env_info = lambda: "(environment report skipped: BENCH_D2_NO_COLLECT_ENV is set)"


def cpu_device_ids():
    """create_ddp_model with device_ids=None for a model on the CPU (see the module's docstring)."""
    import detectron2.engine.defaults as defaults

    create = defaults.create_ddp_model
    if getattr(create, "bench_cpu_device_ids", False):
        return

    def create_ddp_model(model, **kwargs):
        on_cpu = all(p.device.type == "cpu" for p in model.parameters())
        if on_cpu and "device_ids" not in kwargs:
            from detectron2.utils import comm

            if comm.get_world_size() > 1 and comm.is_main_process():
                print("bench: DistributedDataParallel of a CPU model: device_ids=None (detectron2's "
                      "create_ddp_model passes the local rank, which torch accepts only for GPU modules)",
                      flush=True)
            kwargs["device_ids"] = None
        return create(model, **kwargs)

    create_ddp_model.bench_cpu_device_ids = True
    defaults.create_ddp_model = create_ddp_model


def prepare_process(data):
    register(data)
    if os.environ.get("BENCH_D2_NO_COLLECT_ENV"):
        skip_collect_env()
    cpu_device_ids()


class InEveryProcess:
    """`main_func` for detectron2.engine.launch: prepares the process it runs in, then calls train_net's main."""

    def __init__(self, main_func, data):
        self.main_func, self.data = main_func, data

    def __call__(self, *args):
        prepare_process(self.data)
        return self.main_func(*args)


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "--data":
        sys.exit("usage: train_synthetic.py --data DIR [train_net.py arguments ...]")
    data = os.path.abspath(args[1])
    import detectron2.engine as engine

    import train_synthetic as this  # this file as a module: what spawned processes unpickle InEveryProcess from

    launch = engine.launch
    engine.launch = lambda main_func, *rest, **options: launch(this.InEveryProcess(main_func, data), *rest,
                                                               **options)
    script = os.path.join(os.getcwd(), "tools", "train_net.py")
    sys.argv = [script] + args[2:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
