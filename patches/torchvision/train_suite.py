"""Run the torchvision references' detection train.py (references/detection of the checkout, the current
directory) with the model settings of bench's current suite that its arguments cannot set. bench ships this
file; it is not torchvision code.

torchvision's maskrcnn_resnet50_fpn builds its backbone with FrozenBatchNorm2d and trains only its last three
stages when it loads ImageNet weights, and with nn.BatchNorm2d training all five stages when it does not; the suite
starts every member from random weights, so the references alone would train a different backbone. Their train.py
also has no argument for the input sizes or for the proposals kept after NMS. This builds the model the way
maskrcnn_resnet50_fpn does for trained weights (resnet50 with FrozenBatchNorm2d, _resnet_fpn_extractor with 3
trainable stages, MaskRCNN), without loading any weights, with:

    --min-size N --max-size N       MaskRCNN(min_size=, max_size=) (torchvision's defaults: 800, 1333)
    --rpn-post-nms-top-n N          MaskRCNN(rpn_post_nms_top_n_train=) per image (default 2000)

and puts it where train.py looks the name up (torchvision.models.get_model, and the module attribute for
train.py versions that index torchvision.models.detection.__dict__), then runs train.py as __main__ with the
remaining arguments, unchanged.

Usage: python train_suite.py --min-size 800 --max-size 1333 --rpn-post-nms-top-n 1000 [train.py arguments ...]
"""

import os
import runpy
import sys

MODEL = "maskrcnn_resnet50_fpn"
TRAINED_STAGES = 3  # maskrcnn_resnet50_fpn's default for trained weights: layer2-4 (stem and layer1 frozen)


def split_arguments(argv):
    """(suite settings, train.py arguments)."""
    names = {"--min-size": "min_size", "--max-size": "max_size", "--rpn-post-nms-top-n": "rpn_post_nms_top_n"}
    settings, rest, index = {}, [], 0
    while index < len(argv):
        if argv[index] in names and index + 1 < len(argv):
            settings[names[argv[index]]] = int(argv[index + 1])
            index += 2
        else:
            rest.append(argv[index])
            index += 1
    missing = sorted(set(names.values()) - set(settings))
    if missing:
        sys.exit(f"train_suite.py: missing {', '.join('--' + m.replace('_', '-') for m in missing)}")
    return settings, rest


def suite_maskrcnn(settings, *, weights=None, weights_backbone=None, num_classes=91, progress=True,
                   trainable_backbone_layers=None, **kwargs):
    """maskrcnn_resnet50_fpn as torchvision builds it for trained weights, from random weights."""
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.detection.mask_rcnn import MaskRCNN
    from torchvision.models.resnet import resnet50
    from torchvision.ops.misc import FrozenBatchNorm2d

    if weights is not None or weights_backbone is not None:
        sys.exit("train_suite.py: the suite starts from random weights; pass no --weights/--weights-backbone")
    backbone = _resnet_fpn_extractor(resnet50(weights=None, progress=progress, norm_layer=FrozenBatchNorm2d),
                                     TRAINED_STAGES)
    return MaskRCNN(backbone, num_classes=num_classes, min_size=settings["min_size"],
                    max_size=settings["max_size"], rpn_post_nms_top_n_train=settings["rpn_post_nms_top_n"],
                    **kwargs)


def install(settings):
    """Make train.py's lookups of MODEL build suite_maskrcnn."""
    import torchvision.models
    import torchvision.models.detection

    def build(**kwargs):
        return suite_maskrcnn(settings, **kwargs)

    original = torchvision.models.get_model

    def get_model(name, **kwargs):
        return build(**kwargs) if name == MODEL else original(name, **kwargs)

    torchvision.models.get_model = get_model
    setattr(torchvision.models.detection, MODEL, build)


if __name__ == "__main__":
    chosen, arguments = split_arguments(sys.argv[1:])
    install(chosen)
    script = os.path.join(os.getcwd(), "train.py")
    sys.path.insert(0, os.getcwd())  # train.py imports its neighbours (utils, presets, coco_utils)
    sys.argv = [script] + arguments
    runpy.run_path(script, run_name="__main__")
