"""Run detectron2's own tools/train_net.py on a COCO-format dataset that is not COCO (bench's synthetic data).

detectron2's built-in `coco_2017_train` carries COCO's 80 category names in its metadata, so a dataset with other
categories cannot be loaded under that name. This registers the dataset under `bench_synth_train`
(`register_coco_instances`, detectron2's documented way for custom COCO-format data), then runs tools/train_net.py
from the current directory (the checkout) as __main__ with the remaining arguments, unchanged. bench ships this
file; it is not detectron2 code.

Usage: python train_synthetic.py --data DIR [train_net.py arguments ...] DATASETS.TRAIN "('bench_synth_train',)"
"""

import os
import runpy
import sys

from detectron2.data.datasets import register_coco_instances

NAME = "bench_synth_train"

args = sys.argv[1:]
if len(args) < 2 or args[0] != "--data":
    sys.exit("usage: train_synthetic.py --data DIR [train_net.py arguments ...]")
data = os.path.abspath(args[1])
register_coco_instances(NAME, {}, os.path.join(data, "annotations", "instances_train2017.json"),
                        os.path.join(data, "train2017"))
if os.environ.get("BENCH_D2_NO_COLLECT_ENV"):
    # default_setup() logs collect_env_info(), which calls detectron2._C's version helpers; on one GPU image (torch
    # 2.11+cu130, _C built there) those calls crash although training never uses them. Opt-in only: the report is
    # replaced by one line, nothing else changes.
    import detectron2.engine.defaults as defaults

    defaults.collect_env_info = lambda: "(environment report skipped: BENCH_D2_NO_COLLECT_ENV is set)"
script = os.path.join(os.getcwd(), "tools", "train_net.py")
sys.argv = [script] + args[2:]
runpy.run_path(script, run_name="__main__")
