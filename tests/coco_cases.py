"""Small COCO ground truths and detections built in the tests, with areas and boxes chosen by hand."""

from __future__ import annotations

LARGE_SIZES = [(120, 110), (200, 150), (300, 90), (100, 100), (250, 180)]  # every area >= 96² = 9216


def box_annotation(ann_id: int, image_id: int, category_id: int, x: float, y: float, w: float, h: float,
                   iscrowd: int = 0) -> dict:
    """A rectangle whose polygon, box and `area` agree, so bbox and segm IoU of a copy are both 1."""
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": [x, y, w, h],
            "area": w * h, "iscrowd": iscrowd, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}


def make_gt(sizes: list[tuple[float, float]], images: int = 3) -> dict:
    annotations = []
    for image_id in range(1, images + 1):
        for j, (w, h) in enumerate(sizes):
            annotations.append(box_annotation(len(annotations) + 1, image_id, 1 + j % 2, 5 + j * 3, 7 + j * 2,
                                              w, h))
    return {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480}
                       for i in range(1, images + 1)],
            "annotations": annotations, "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}


def perfect_detections(gt: dict) -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "segmentation": a["segmentation"], "score": 0.9} for a in gt["annotations"] if not a["iscrowd"]]
