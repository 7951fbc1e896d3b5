"""Turn ``Sample`` ground truth and per-image ``Detections`` into the evaluators' arrays.

Frames: sample polygons and detection boxes are both in pixels of the same image. COCO-
style protocols use axis-aligned boxes (oriented detections are replaced by their
envelopes) and take a ground-truth object's area as its box area; VOC-style protocols use
quadrilaterals (horizontal boxes as their 4 corners).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rsdet.evaluation.coco_data import CocoDetections, CocoGroundTruth
from rsdet.evaluation.errors import EvaluationInputError
from rsdet.evaluation.voc_data import VocDetections, VocGroundTruth, boxes_to_quads
from rsdet.structures import Detections, HBoxes, RBoxes, Sample

__all__ = [
    "align_detections",
    "coco_detections",
    "coco_ground_truth",
    "voc_detections",
    "voc_ground_truth",
]

DetectionsArg = Sequence[Detections | None] | Mapping[str, Detections]


def _check_labels(labels: np.ndarray, n_classes: int, what: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise EvaluationInputError(
            f"{what}: label {int(labels.max() if labels.max() >= n_classes else labels.min())} "
            f"is outside the {n_classes} classes"
        )


def align_detections(
    samples: Sequence[Sample], detections: DetectionsArg
) -> list[Detections | None]:
    """Detections in sample order; a mapping is keyed by ``Sample.image_id``.

    A sample without an entry (or with None) has no detections. Raises
    :class:`EvaluationInputError` for a length mismatch or an unknown image id.
    """
    ids = [s.image_id for s in samples]
    if len(set(ids)) != len(ids):
        raise EvaluationInputError("samples: image_id values are not unique")
    if isinstance(detections, Mapping):
        unknown = set(detections) - set(ids)
        if unknown:
            raise EvaluationInputError(
                f"detections for image {sorted(unknown)[0]!r}, which is not among the samples"
            )
        return [detections.get(i) for i in ids]
    if len(detections) != len(samples):
        raise EvaluationInputError(
            f"{len(detections)} detection entries for {len(samples)} samples (align them, "
            "or pass a mapping image_id -> Detections)"
        )
    return list(detections)


def _det_arrays(
    per_image: Sequence[Detections | None], n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[HBoxes | RBoxes]]:
    """(image index, label, score) arrays and the box sets, images in order."""
    images, labels, scores, boxes = [], [], [], []
    for i, dets in enumerate(per_image):
        if dets is None or len(dets) == 0:
            continue
        _, score, label = dets.numpy()
        images.append(np.full(len(dets), i, dtype=np.int64))
        labels.append(label.astype(np.int64))
        scores.append(score.astype(np.float64))
        boxes.append(dets.boxes)
    if not images:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), []
    label_arr = np.concatenate(labels)
    _check_labels(label_arr, n_classes, "detections")
    return np.concatenate(images), label_arr, np.concatenate(scores), boxes


def _xyxy(boxes: HBoxes | RBoxes) -> np.ndarray:
    env = boxes.envelope() if isinstance(boxes, RBoxes) else boxes
    return env.numpy().astype(np.float64).reshape(-1, 4)


def _quads(boxes: HBoxes | RBoxes) -> np.ndarray:
    if isinstance(boxes, HBoxes):
        return boxes_to_quads(boxes.numpy())
    return boxes.to_polygons().detach().cpu().numpy().astype(np.float64).reshape(-1, 4, 2)


def _gt_arrays(samples: Sequence[Sample], n_classes: int) -> tuple[np.ndarray, ...]:
    """(image index, label, polygons (N, 4, 2), difficulty, crowd), images in order."""
    if not samples:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros((0, 4, 2)), z.astype(np.int8), z.astype(bool)
    image = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(samples)])
    label = np.concatenate([s.labels for s in samples]).astype(np.int64)
    _check_labels(label, n_classes, "ground truth")
    polygons = np.concatenate([s.polygons for s in samples]).reshape(-1, 4, 2)
    difficulty = np.concatenate([s.difficulty for s in samples]).astype(np.int8)
    crowd = np.concatenate([s.crowd for s in samples]).astype(bool)
    return image, label, polygons, difficulty, crowd


def coco_ground_truth(samples: Sequence[Sample], classes: Sequence[str]) -> CocoGroundTruth:
    """COCO-style ground truth: envelopes of the polygons, area = box area, crowd kept."""
    image, label, polygons, _, crowd = _gt_arrays(samples, len(classes))
    lo, hi = polygons.min(axis=1, initial=np.inf), polygons.max(axis=1, initial=-np.inf)
    xywh = np.concatenate([lo, hi - lo], axis=1)
    return CocoGroundTruth(
        image_names=tuple(s.image_id for s in samples),
        class_names=tuple(classes),
        image=image,
        label=label,
        xywh=xywh,
        area=xywh[:, 2] * xywh[:, 3],
        crowd=crowd,
    )


def coco_detections(per_image: Sequence[Detections | None], n_classes: int) -> CocoDetections:
    """COCO-style detections (oriented boxes become their axis-aligned envelopes)."""
    image, label, score, boxes = _det_arrays(per_image, n_classes)
    xyxy = np.concatenate([_xyxy(b) for b in boxes]) if boxes else np.zeros((0, 4))
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    return CocoDetections(image=image, label=label, xywh=xywh, score=score)


def voc_ground_truth(samples: Sequence[Sample], classes: Sequence[str]) -> VocGroundTruth:
    """VOC-style ground truth: polygons as given; difficult = any non-zero difficulty."""
    image, label, polygons, difficulty, _ = _gt_arrays(samples, len(classes))
    return VocGroundTruth(
        image_names=tuple(s.image_id for s in samples),
        class_names=tuple(classes),
        image=image,
        label=label,
        quads=polygons,
        difficult=difficulty != 0,
    )


def voc_detections(per_image: Sequence[Detections | None], n_classes: int) -> VocDetections:
    """VOC-style detections: oriented boxes as polygons, horizontal ones as 4 corners."""
    image, label, score, boxes = _det_arrays(per_image, n_classes)
    quads = np.concatenate([_quads(b) for b in boxes]) if boxes else np.zeros((0, 4, 2))
    return VocDetections(image=image, label=label, score=score, quads=quads)
