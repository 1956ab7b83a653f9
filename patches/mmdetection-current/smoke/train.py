"""Run mmdetection's own tools/train.py as the mmdet package from the package index ships it.

mmdet 3.3.0's wheel carries its tools and configs under mmdet/.mim/, so the presets need no git checkout: this
file only locates that train.py and runs it as __main__ with the same arguments (bench ships it; it is not
mmdetection code). Several processes come from torchrun (`--launcher pytorch`), as with mmdetection's own
tools/dist_train.sh.

On the CPU under torchrun (any process count), and only there, mmengine 0.10.7 needs three things it has no CPU branch for,
given here the documented way where there is one: `_init_dist_pytorch` calls torch.cuda.set_device(LOCAL_RANK)
before init_process_group (mmengine/dist/utils.py:130), made a no-op while CUDA is unavailable; default_runtime's
`env_cfg.dist_cfg.backend` is nccl, set to gloo with --cfg-options; and Runner.wrap_model gives
MMDistributedDataParallel device_ids=[LOCAL_RANK] (mmengine/runner/runner.py:898-911), which torch refuses for a
module on the CPU, so `model_wrapper_cfg` names the same wrapper with device_ids=None (the wrapper's other
arguments as wrap_model's default: broadcast_buffers=False, find_unused_parameters=False). The log says so. A
run with a GPU is untouched.
"""

import os
import runpy
import sys

import mmdet

CPU_DISTRIBUTED_OPTIONS = ["env_cfg.dist_cfg.backend=gloo", "model_wrapper_cfg.type=MMDistributedDataParallel",
                           "model_wrapper_cfg.device_ids=None", "model_wrapper_cfg.broadcast_buffers=False",
                           "model_wrapper_cfg.find_unused_parameters=False"]


def cpu_distributed(argv):
    """argv with the CPU options added after --cfg-options (or at its end), and torch.cuda.set_device a no-op."""
    import torch

    torch.cuda.set_device = lambda device: None
    if int(os.environ.get("RANK", "0")) == 0:
        print("bench: CPU processes under torchrun: gloo, MMDistributedDataParallel with device_ids=None, "
              "torch.cuda.set_device skipped (mmengine 0.10.7 has no CPU branch for distributed training)",
              flush=True)
    if "--cfg-options" in argv:
        at = argv.index("--cfg-options") + 1
        return argv[:at] + CPU_DISTRIBUTED_OPTIONS + argv[at:]
    return argv + ["--cfg-options"] + CPU_DISTRIBUTED_OPTIONS


def main():
    script = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "tools", "train.py")
    if not os.path.isfile(script):
        sys.exit(f"bench: {script} is missing: mmdet {mmdet.__version__} was not installed from a wheel with "
                 ".mim/")
    argv = sys.argv[1:]
    import torch

    if "WORLD_SIZE" in os.environ and not torch.cuda.is_available():  # torchrun's processes, on the CPU
        argv = cpu_distributed(argv)
    sys.argv = [script] + argv
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
