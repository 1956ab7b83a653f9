"""What a recipe's launch arguments set, per protocol setting, in each framework's override syntax.

A recipe declares the effective value of a setting at its pinned commit; if its launch command also overrides
that setting (`SOLVER.IMS_PER_BATCH 8`, `-b 4`, `--cfg-options data.samples_per_gpu=4`, tensorpack
`KEY=VALUE`), the two must agree. The rules are data: (setting, syntax, key, conversion) per family. Syntaxes:

- `pair`:   `KEY VALUE` tokens (yacs opts: detectron2, maskrcnn-benchmark; Detectron after `--cfg ... `)
- `assign`: `KEY=VALUE` tokens (tensorpack `--config K=V ...`, mmdetection
  `--cfg-options`/`--options k=v ...`)
- `flag`:   argparse options, spellings separated by `|`: `-b 4`, `--batch-size 4`, `--batch-size=4`
- `switch`: an argparse flag whose presence sets the value (`--amp`)

Conversions turn the argument into the protocol's unit (e.g. detectron2's global IMS_PER_BATCH into per GPU).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.protocol.spec import Value

# conversion name -> (argument text, gpus) -> protocol value. `fmt:` and `bool:` and `const:` are
# parameterised.
_NUMBERS = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_FALSE = {"false", "0", "no", "off", "none"}


def _sizes(text: str, _gpus: int) -> list[int]:
    return [int(float(n)) for n in _NUMBERS.findall(text)]


def _range(text: str, gpus: int) -> list[int]:
    """tensorpack's TRAIN_SHORT_EDGE_SIZE is [min, max] to sample from: [800, 800] is the single scale 800."""
    sizes = _sizes(text, gpus)
    return sizes[:1] if len(set(sizes)) == 1 else sizes


def _per_gpu(text: str, gpus: int) -> int | float:
    gpus = max(gpus, 1)  # gpus = 0 is one CPU process
    total = int(float(text))
    return total // gpus if total % gpus == 0 else total / gpus


def _freeze_at(text: str, _gpus: int) -> str:
    """Detectron/detectron2 FREEZE_AT n: the first n stages (stem = 1, res2 = 2, ...) are frozen."""
    names = ["stem", "res2", "res3", "res4", "res5"]
    n = int(float(text))
    return "+".join(names[:n]) or "none"


def _mm_frozen(text: str, _gpus: int) -> str:
    """mmdetection frozen_stages n: the stem and the first n residual stages (-1 = nothing frozen)."""
    n = int(float(text))
    return "none" if n < 0 else "+".join(["stem", "res2", "res3", "res4", "res5"][: n + 1])


def _norm(text: str, _gpus: int) -> str:
    text = text.strip().strip("'\"")
    return {"frozenbn": "frozen_bn", "freezebn": "frozen_bn", "fixbn": "frozen_bn"}.get(text.lower(),
                                                                                        text.lower())


def _dtype(text: str, _gpus: int) -> str:
    return "fp32" if "32" in text else "mixed fp16"


def convert(conversion: str, text: str, gpus: int) -> Value:
    text = text.strip()
    if conversion.startswith("fmt:"):
        return conversion[4:].format(int(float(text)))
    if conversion.startswith("bool:"):
        when_true, when_false = conversion[5:].split("/")
        value = when_false if text.strip("'\"").lower() in _FALSE else when_true
        return _typed(value)
    if conversion.startswith("const:"):
        return _typed(conversion[6:])
    if conversion.startswith("map:"):  # map:bn=bn,frozen=frozen_bn (a choice flag onto protocol values)
        choices = dict(pair.split("=", 1) for pair in conversion[4:].split(","))
        return _typed(choices.get(text.strip("'\""), text))
    simple = {"int": lambda t, g: int(float(t)), "float": lambda t, g: float(t),
              "str": lambda t, g: t.strip("'\""), "sizes": _sizes, "range": _range, "per_gpu": _per_gpu,
              "freeze_at": _freeze_at, "mm_frozen": _mm_frozen, "norm": _norm, "dtype": _dtype}
    return simple[conversion](text, gpus)


def _typed(text: str) -> Value:
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Rule:
    setting: str
    syntax: str  # pair | assign | flag | switch
    key: str
    conversion: str


def _rules(syntax: str, table: list[tuple[str, str, str]]) -> list[Rule]:
    return [Rule(setting, syntax, key, conversion) for setting, key, conversion in table]


# Keys detectron2 inherited unchanged from maskrcnn-benchmark (both yacs, IMS_PER_BATCH global).
_YACS_COMMON = [
    ("images_per_gpu", "SOLVER.IMS_PER_BATCH", "per_gpu"),
    ("train_short_side", "INPUT.MIN_SIZE_TRAIN", "sizes"),
    ("train_long_side_max", "INPUT.MAX_SIZE_TRAIN", "int"),
    ("base_lr", "SOLVER.BASE_LR", "float"),
    ("momentum", "SOLVER.MOMENTUM", "float"),
    ("weight_decay", "SOLVER.WEIGHT_DECAY", "float"),
    ("warmup_iters", "SOLVER.WARMUP_ITERS", "int"),
    ("warmup_start_factor", "SOLVER.WARMUP_FACTOR", "float"),
    ("backbone_style", "MODEL.RESNETS.STRIDE_IN_1X1", "bool:caffe/pytorch"),
    ("rpn_batch_size_per_image", "MODEL.RPN.BATCH_SIZE_PER_IMAGE", "int"),
    ("roi_batch_size_per_image", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "int"),
    ("roi_positive_fraction", "MODEL.ROI_HEADS.POSITIVE_FRACTION", "float"),
    ("pooler_sampling_ratio", "MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO", "int"),
    ("box_pooler_resolution", "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION", "int"),
    ("mask_pooler_resolution", "MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION", "int"),
]

_YACS_D2 = _rules("pair", _YACS_COMMON + [
    ("precision", "SOLVER.AMP.ENABLED", "bool:mixed fp16/fp32"),
    ("norm", "MODEL.RESNETS.NORM", "norm"),
    ("frozen_stages", "MODEL.BACKBONE.FREEZE_AT", "freeze_at"),
    ("rpn_pre_nms_topk_train", "MODEL.RPN.PRE_NMS_TOPK_TRAIN", "int"),
    ("rpn_post_nms_topk_train", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "fmt:{} per image"),
])

_YACS_MRCNN = _rules("pair", _YACS_COMMON + [
    ("precision", "DTYPE", "dtype"),
    ("frozen_stages", "MODEL.BACKBONE.FREEZE_CONV_BODY_AT", "freeze_at"),
    ("rpn_pre_nms_topk_train", "MODEL.RPN.PRE_NMS_TOP_N_TRAIN", "int"),
    # FPN_POST_NMS_PER_BATCH defaults to True (config/defaults.py:169 @ 0ce8f6f): counted per GPU batch
    ("rpn_post_nms_topk_train", "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN", "fmt:{} per GPU batch"),
])

_YACS_DETECTRON = _rules("pair", [
    ("images_per_gpu", "TRAIN.IMS_PER_BATCH", "int"),  # per GPU in Detectron
    ("gpus", "NUM_GPUS", "int"),
    ("train_short_side", "TRAIN.SCALES", "sizes"),
    ("train_long_side_max", "TRAIN.MAX_SIZE", "int"),
    ("horizontal_flip", "TRAIN.USE_FLIPPED", "bool:0.5/0.0"),
    ("base_lr", "SOLVER.BASE_LR", "float"),
    ("momentum", "SOLVER.MOMENTUM", "float"),
    ("weight_decay", "SOLVER.WEIGHT_DECAY", "float"),
    ("warmup_iters", "SOLVER.WARM_UP_ITERS", "int"),
    ("warmup_start_factor", "SOLVER.WARM_UP_FACTOR", "float"),
    ("backbone_style", "RESNETS.STRIDE_1X1", "bool:caffe/pytorch"),
    ("frozen_stages", "TRAIN.FREEZE_AT", "freeze_at"),
    ("rpn_pre_nms_topk_train", "TRAIN.RPN_PRE_NMS_TOP_N", "int"),
    ("rpn_post_nms_topk_train", "TRAIN.RPN_POST_NMS_TOP_N", "fmt:{} per GPU batch"),
    ("rpn_batch_size_per_image", "TRAIN.RPN_BATCH_SIZE_PER_IM", "int"),
    ("roi_batch_size_per_image", "TRAIN.BATCH_SIZE_PER_IM", "int"),
    ("roi_positive_fraction", "TRAIN.FG_FRACTION", "float"),
    ("pooler_sampling_ratio", "FAST_RCNN.ROI_XFORM_SAMPLING_RATIO", "int"),
    ("box_pooler_resolution", "FAST_RCNN.ROI_XFORM_RESOLUTION", "int"),
    ("mask_pooler_resolution", "MRCNN.ROI_XFORM_RESOLUTION", "int"),
])

_TENSORPACK = _rules("assign", [
    ("train_short_side", "PREPROC.TRAIN_SHORT_EDGE_SIZE", "range"),
    ("train_long_side_max", "PREPROC.MAX_SIZE", "int"),
    ("base_lr", "TRAIN.BASE_LR", "float"),
    ("weight_decay", "TRAIN.WEIGHT_DECAY", "float"),
    ("warmup_iters", "TRAIN.WARMUP", "int"),
    ("backbone_style", "BACKBONE.STRIDE_1X1", "bool:caffe/pytorch"),
    ("norm", "BACKBONE.NORM", "norm"),
    ("frozen_stages", "BACKBONE.FREEZE_AT", "freeze_at"),
    ("rpn_pre_nms_topk_train", "RPN.TRAIN_PER_LEVEL_NMS_TOPK", "int"),
    ("rpn_post_nms_topk_train", "RPN.TRAIN_PER_LEVEL_NMS_TOPK", "fmt:{} per image"),
    ("rpn_batch_size_per_image", "RPN.BATCH_PER_IM", "int"),
    ("roi_batch_size_per_image", "FRCNN.BATCH_PER_IM", "int"),
    ("roi_positive_fraction", "FRCNN.FG_RATIO", "float"),
])

_MMDET = _rules("assign", [
    ("images_per_gpu", "data.samples_per_gpu", "int"),  # mmdet 2.x
    ("images_per_gpu", "data.imgs_per_gpu", "int"),  # deprecated 2.0 spelling, still honoured
    ("images_per_gpu", "train_dataloader.batch_size", "int"),  # mmdet 3.x
    ("base_lr", "optimizer.lr", "float"),
    ("base_lr", "optim_wrapper.optimizer.lr", "float"),
    ("momentum", "optimizer.momentum", "float"),
    ("weight_decay", "optimizer.weight_decay", "float"),
    ("warmup_iters", "lr_config.warmup_iters", "int"),
    ("warmup_start_factor", "lr_config.warmup_ratio", "float"),
    ("precision", "fp16.loss_scale", "const:mixed fp16"),
    ("backbone_style", "model.backbone.style", "str"),
    ("frozen_stages", "model.backbone.frozen_stages", "mm_frozen"),
    ("rpn_pre_nms_topk_train", "train_cfg.rpn_proposal.nms_pre", "int"),
    ("rpn_pre_nms_topk_train", "model.train_cfg.rpn_proposal.nms_pre", "int"),
    ("rpn_post_nms_topk_train", "train_cfg.rpn_proposal.max_num", "fmt:{} per image"),
    ("rpn_post_nms_topk_train", "model.train_cfg.rpn_proposal.max_per_img", "fmt:{} per image"),
    ("roi_batch_size_per_image", "train_cfg.rcnn.sampler.num", "int"),
    ("roi_batch_size_per_image", "model.train_cfg.rcnn.sampler.num", "int"),
    ("roi_positive_fraction", "train_cfg.rcnn.sampler.pos_fraction", "float"),
    ("roi_positive_fraction", "model.train_cfg.rcnn.sampler.pos_fraction", "float"),
]) + _rules("switch", [("precision", "--amp", "const:mixed fp16")])

_TORCHVISION = _rules("flag", [
    ("images_per_gpu", "-b|--batch-size", "int"),
    ("base_lr", "--lr", "float"),
    ("momentum", "--momentum", "float"),
    ("weight_decay", "--wd|--weight-decay", "float"),
    ("workers", "-j|--workers", "int"),
    # bench's patches/torchvision/train_suite.py, which runs train.py with the model settings it cannot set
    ("train_short_side", "--min-size", "sizes"),
    ("train_long_side_max", "--max-size", "int"),
    ("rpn_post_nms_topk_train", "--rpn-post-nms-top-n", "fmt:{} per image"),
]) + _rules("switch", [("precision", "--amp", "const:mixed fp16")])

# bench's own trainer (python -m bench.builtin.train): argparse flags named after the protocol settings.
_BUILTIN = _rules("flag", [
    ("images_per_gpu", "-b|--batch-size", "int"),
    ("train_short_side", "--min-size", "sizes"),
    ("train_long_side_max", "--max-size", "int"),
    ("base_lr", "--base-lr", "float"),  # for a global batch of 16, scaled linearly by the trainer
    ("momentum", "--momentum", "float"),
    ("weight_decay", "--weight-decay", "float"),
    ("warmup_iters", "--warmup-iters", "int"),
    ("warmup_start_factor", "--warmup-factor", "float"),
    ("norm", "--norm", "map:bn=bn,frozen=frozen_bn"),
    ("frozen_stages", "--norm", "map:bn=none,frozen=stem+res2"),
    ("roi_batch_size_per_image", "--roi-batch-size", "int"),
    ("rpn_post_nms_topk_train", "--rpn-post-nms-top-n", "fmt:{} per image"),
    ("workers", "-j|--workers", "int"),
]) + _rules("switch", [("precision", "--amp", "const:mixed fp16")])

# family (or recipe name) -> rules. Families without launch-time overrides (matterport, SimpleDet: their
# settings live in config files and patches) have none; their declarations are checked against the protocol
# only.
RULES: dict[str, list[Rule]] = {
    "detectron2": _YACS_D2,
    "maskrcnn-benchmark": _YACS_MRCNN,
    "detectron": _YACS_DETECTRON,
    "tensorpack": _TENSORPACK,
    "mmdetection": _MMDET,
    "torchvision": _TORCHVISION,
    "builtin": _BUILTIN,
    "matterport": [],
    "simpledet": [],
}


def rules_for(family: str, name: str = "") -> list[Rule] | None:
    """The override rules of a family (None when bench knows no override syntax for it)."""
    for key in (family, family.lower(), name, name.split("-")[0]):
        if key in RULES:
            return RULES[key]
    return None


@dataclass(frozen=True)
class Override:
    setting: str
    value: Value
    argument: str  # the argument as written, for messages


def _find(tokens: list[str], rule: Rule) -> str | None:
    """The text of the last occurrence of the rule's key in the tokens (None if absent)."""
    found: str | None = None
    spellings = rule.key.split("|")
    for i, token in enumerate(tokens):
        if rule.syntax == "pair" and token == rule.key and i + 1 < len(tokens):
            found = f"{token} {tokens[i + 1]}"
        elif rule.syntax == "assign" and token.startswith(rule.key + "="):
            found = token
        elif rule.syntax == "flag":
            for spelling in spellings:
                if token == spelling and i + 1 < len(tokens):
                    found = f"{token} {tokens[i + 1]}"
                elif spelling.startswith("--") and token.startswith(spelling + "="):
                    found = token
                elif (not spelling.startswith("--") and token.startswith(spelling)
                      and token[len(spelling):].isdigit()):
                    found = token  # -b4
        elif rule.syntax == "switch" and token in spellings:
            found = token
    return found


def _argument_value(argument: str, rule: Rule) -> str:
    if rule.syntax == "switch":
        return "1"
    if rule.syntax == "assign" or (rule.syntax == "flag" and "=" in argument and " " not in argument):
        return argument.split("=", 1)[1]
    if " " in argument:
        return argument.split(" ", 1)[1]
    return argument[len(next(s for s in rule.key.split("|") if argument.startswith(s))):]


def launch_overrides(tokens: list[str], rules: list[Rule], gpus: int) -> list[Override]:
    """The protocol settings the launch arguments set, in the protocol's units. Unparseable values are
    reported as strings (they then disagree with any numeric declaration, which is what a reviewer should look
    at)."""
    overrides = []
    for rule in rules:
        argument = _find(tokens, rule)
        if argument is None:
            continue
        text = _argument_value(argument, rule)
        try:
            value = convert(rule.conversion, text, gpus)
        except (ValueError, IndexError, ZeroDivisionError):
            value = text
        overrides.append(Override(rule.setting, value, argument))
    return overrides
