"""A COCO-format detection dataset read with pycocotools, as torchvision's references/detection/coco_utils.py
reads it: crowd annotations are dropped from the training targets, boxes become x1y1x2y2 and are clamped,
degenerate boxes are removed, polygons *and* RLE (compressed or not) are decoded into masks, and images
without a usable annotation are left out of training. The only augmentation is a horizontal flip."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def annotation_mask(segmentation, height: int, width: int) -> np.ndarray:
    """One annotation's mask: a list of polygons, an uncompressed RLE (counts list) or a compressed one."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        counts = segmentation["counts"]
        rle = {"size": segmentation["size"],
               "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return mask_utils.decode(rle)


def _usable(annotations: list[dict]) -> bool:
    """The reference's `_has_valid_annotation` for detection: a non-crowd box larger than one pixel."""
    return any(a.get("iscrowd", 0) == 0 and all(s > 1 for s in a["bbox"][2:]) for a in annotations)


class CocoDetection(torch.utils.data.Dataset):
    def __init__(self, image_dir: Path, annotation_file: Path, train: bool = True,
                 num_classes: int = 91) -> None:
        import contextlib
        import io

        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its loading time
            self.coco = COCO(str(annotation_file))
        self.image_dir = Path(image_dir)
        self.train = train
        ids = sorted(self.coco.imgs.keys())
        if train:
            ids = [i for i in ids if _usable(self.coco.imgToAnns.get(i, []))]
        if not ids:
            raise ValueError(f"{annotation_file}: no image with a usable (non-crowd, non-empty) annotation")
        self.ids = ids
        too_big = [c for c in self.coco.cats if c >= num_classes]
        if too_big:
            raise ValueError(f"{annotation_file}: category id {too_big[0]} does not fit a model of "
                             f"{num_classes} classes (ids are used as labels, as torchvision's reference "
                             "does)")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int):
        image_id = self.ids[index]
        info = self.coco.imgs[image_id]
        with Image.open(self.image_dir / info["file_name"]) as img:
            image = img.convert("RGB")
        w, h = image.size
        anns = [a for a in self.coco.imgToAnns.get(image_id, []) if a.get("iscrowd", 0) == 0]
        boxes = torch.as_tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        boxes[:, 0::2].clamp_(min=0, max=w)
        boxes[:, 1::2].clamp_(min=0, max=h)
        labels = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
        if anns:
            masks = torch.from_numpy(np.stack([annotation_mask(a["segmentation"], h, w) for a in anns]))
        else:
            masks = torch.zeros((0, h, w), dtype=torch.uint8)
        keep = (boxes[:, 3] > boxes[:, 1]) & (boxes[:, 2] > boxes[:, 0])
        target = {"boxes": boxes[keep], "labels": labels[keep], "masks": masks[keep],
                  "image_id": image_id}
        tensor = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
        if self.train and random.random() < 0.5:  # horizontal flip, the only augmentation
            tensor = tensor.flip(-1)
            boxes = target["boxes"]
            target["boxes"] = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], dim=1)
            target["masks"] = target["masks"].flip(-1)
        return tensor.float().div_(255), target


class RepeatedBatches(torch.utils.data.Sampler):
    """Batches of indices for an iteration-based schedule: `total` batches from successive reshuffled passes
    over the dataset (each process takes its own share of every pass, as DistributedSampler does)."""

    def __init__(self, dataset, batch_size: int, total: int, seed: int = 0, rank: int = 0,
                 world: int = 1) -> None:
        self.n, self.batch_size, self.total = len(dataset), batch_size, total
        self.seed, self.rank, self.world = seed, rank, world
        if self.n // world < batch_size:
            raise ValueError(f"{self.n} usable images cannot fill a batch of {batch_size} on each of {world} "
                             "process(es)")

    def __len__(self) -> int:
        return self.total

    def __iter__(self):
        produced, epoch = 0, 0
        while True:
            order = torch.randperm(self.n,
                                   generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()
            mine = order[self.rank: self.n - self.n % self.world: self.world]
            for start in range(0, len(mine) - self.batch_size + 1, self.batch_size):
                if produced == self.total:
                    return
                yield mine[start: start + self.batch_size]
                produced += 1
            epoch += 1


def collate(batch):
    return tuple(zip(*batch))


def worker_init(_worker_id: int) -> None:
    """Workers leave SIGTERM/SIGINT to the main process, which stops cleanly and shuts them down; seeded
    per worker so the flips are reproducible for a seed."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    random.seed(torch.initial_seed() % 2**32)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def locate(data: Path, split: str = "train2017") -> tuple[Path, Path]:
    """(image directory, annotation file) of a COCO-layout root, with a clear error when either is missing."""
    image_dir = data / split
    annotation_file = data / "annotations" / f"instances_{split}.json"
    for path in (image_dir, annotation_file):
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: --data must be a COCO-layout root with "
                                    f"{split}/ and annotations/instances_{split}.json "
                                    "(`bench data synth` writes one)")
    return image_dir, annotation_file
