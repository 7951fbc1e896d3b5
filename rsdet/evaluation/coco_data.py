"""Array form of COCO-style ground truth and detections, as the matcher consumes them.

Both containers are flat over the whole dataset: one row per object, with the index of its
image and category. Row order matters and is preserved: within one image and category,
ground truth keeps its file order (it decides ties between equally good matches) and
detections keep theirs (it decides ties between equal scores), exactly as pycocotools.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CocoDetections", "CocoGroundTruth"]


def _check_len(name: str, n: int, **arrays: np.ndarray) -> None:
    for key, arr in arrays.items():
        if len(arr) != n:
            raise ValueError(f"{name}: {key} has {len(arr)} rows, expected {n}")


@dataclass(frozen=True)
class CocoGroundTruth:
    """Ground-truth boxes of a COCO-style dataset.

    Attributes:
        image_names: (I,) display names of the images, in evaluation order (pycocotools
            evaluates images sorted by id; readers give them in that order).
        class_names: (K,) category names, in evaluation order (sorted by category id).
        image: (N,) int64 image index of each object.
        label: (N,) int64 category index of each object.
        xywh: (N, 4) float64 boxes ``x, y, width, height`` in pixels.
        area: (N,) float64 area in px² that decides the size bin (the json ``area`` field,
            which for AI-TOD and COCO boxes is not always ``w * h``).
        crowd: (N,) bool ``iscrowd``: ignored, may absorb any number of detections.
    """

    image_names: tuple[str, ...]
    class_names: tuple[str, ...]
    image: np.ndarray
    label: np.ndarray
    xywh: np.ndarray
    area: np.ndarray
    crowd: np.ndarray

    def __post_init__(self) -> None:
        _check_len(
            "ground truth",
            len(self.image),
            label=self.label,
            xywh=self.xywh,
            area=self.area,
            crowd=self.crowd,
        )


@dataclass(frozen=True)
class CocoDetections:
    """Scored detections, in the frames of the ground truth's images.

    Attributes:
        image: (D,) int64 image index into the ground truth's ``image_names``.
        label: (D,) int64 category index into the ground truth's ``class_names``.
        xywh: (D, 4) float64 boxes ``x, y, width, height`` in pixels.
        score: (D,) float64 confidences (any real numbers; higher is better).
    """

    image: np.ndarray
    label: np.ndarray
    xywh: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        _check_len(
            "detections", len(self.image), label=self.label, xywh=self.xywh, score=self.score
        )
