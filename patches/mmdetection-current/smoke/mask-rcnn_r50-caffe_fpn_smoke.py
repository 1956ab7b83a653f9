# bench's smoke overlay on mmdetection 3.3.0's own config (from the installed package: the mmdet:: scope reads
# mmdet/.mim/configs). Same model, optimizer and pipeline; only what a short CPU run on bench's synthetic
# COCO-format dataset needs is changed. Not comparable with the published table.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe_fpn_1x_coco.py'

# No pretrained download (the run must work with only the package index): the backbone starts from random weights.
# From random weights with frozen BN, training diverges within tens of iterations (detectron2 did at iteration 22
# with the same recipe), so the learning rate is 0: every forward, backward and SGD step still runs, the weights
# stay where they started.
# RoIAlign with 2 sampling points per bin, as detectron2 and torchvision (mmdetection's config: 0, adaptive): the
# current suite's smoke preset runs the same RoI work in every implementation (bench/protocol/suite_current.toml).
model = dict(backbone=dict(init_cfg=None),
             roi_head=dict(bbox_roi_extractor=dict(roi_layer=dict(sampling_ratio=2)),
                           mask_roi_extractor=dict(roi_layer=dict(sampling_ratio=2))))
optim_wrapper = dict(optimizer=dict(lr=0.0))

# Linear warm-up over 1000 iterations from 0.001 (mmdetection's 1x schedule: 500, mmdet/.mim/configs/_base_/schedules/
# schedule_1x.py:9 in the mmdet 3.3.0 wheel), as the suite's baseline detectron2 (SOLVER.WARMUP_ITERS 1000) and every
# other member: the current suite sets it the same everywhere (bench/protocol/suite_current.toml). At learning rate 0
# it changes no work. The step schedule after it is the 1x schedule's, unchanged.
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]

# bench's synthetic categories (bench/builtin/synth.py CATEGORIES, in id order); the data root comes from the
# command line (--cfg-options train_dataloader.dataset.data_root=...). Small images: shorter side 320.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(533, 320), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=1,  # 2 cores: one loader process beside the training
    dataset=dict(
        metainfo=dict(classes=('square', 'disc', 'triangle', 'hexagon', 'star', 'ring')),
        pipeline=train_pipeline))

# No validation (the synthetic dataset has no val split) and no checkpoint inside the short window.
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None

# One progress line per iteration, each with that iteration's own time (window_size = interval), so the window
# can start and end on any iteration.
default_hooks = dict(logger=dict(type='LoggerHook', interval=1), checkpoint=dict(type='CheckpointHook', interval=1000))
log_processor = dict(type='LogProcessor', window_size=1, by_epoch=True)
