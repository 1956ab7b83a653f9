# bench's overlay for the current suite's `full` and `full-amp` presets (bench/protocol/suite_current.toml) on
# mmdetection 3.3.0's own config: the published pipeline (1333x800, 2 images per GPU), on bench's synthetic
# dataset, with what the suite sets the same in every implementation: random initial weights at learning rate 0
# (no ImageNet download), RoIAlign with 2 sampling points, 4 loader workers, no validation, one log line per
# iteration. `--amp` on the command line (full-amp) turns the optimizer wrapper into mmengine's AmpOptimWrapper.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe_fpn_1x_coco.py'

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
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    dataset=dict(metainfo=dict(classes=('square', 'disc', 'triangle', 'hexagon', 'star', 'ring'))))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
default_hooks = dict(logger=dict(type='LoggerHook', interval=1), checkpoint=dict(type='CheckpointHook', interval=100000))
log_processor = dict(type='LogProcessor', window_size=1, by_epoch=True)
