"""Array form of VOC / DOTA ground truth and detections, as the matcher consumes them.

Every object is a quadrilateral of 4 vertices in pixels of its full image. Horizontal
boxes are stored as their corners TL, TR, BR, BL, so that vertex 1 is ``(xmin, ymin)``
and vertex 3 ``(xmax, ymax)``, which is where DOTA's Task 2 tools read them from.
Ground truth keeps its file order within each image: it decides which of two equally
good ground truths a detection is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VocDetections", "VocGroundTruth", "boxes_to_quads"]


def boxes_to_quads(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) ``xmin, ymin, xmax, ymax`` -> (N, 4, 2) corners TL, TR, BR, BL (as given)."""
    x1, y1, x2, y2 = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).T
    xs = np.stack([x1, x2, x2, x1], axis=1)
    ys = np.stack([y1, y1, y2, y2], axis=1)
    return np.stack([xs, ys], axis=2)


def _check(name: str, n: int, **arrays: np.ndarray) -> None:
    for key, arr in arrays.items():
        if len(arr) != n:
            raise ValueError(f"{name}: {key} has {len(arr)} rows, expected {n}")


@dataclass(frozen=True)
class VocGroundTruth:
    """Ground-truth quadrilaterals of a dataset.

    Attributes:
        image_names: (I,) image ids (DOTA: file stems, as in result files).
        class_names: (K,) class names, in the order the protocol averages them.
        image: (N,) int64 image index of each object.
        label: (N,) int64 class index.
        quads: (N, 4, 2) float64 vertices in pixels, file order.
        difficult: (N,) bool, flagged difficult (DOTA ``difficult`` 1, or 2 = truncated
            by a patch split, which the official tools treat the same).
    """

    image_names: tuple[str, ...]
    class_names: tuple[str, ...]
    image: np.ndarray
    label: np.ndarray
    quads: np.ndarray
    difficult: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.image)
        _check("ground truth", n, label=self.label, quads=self.quads, difficult=self.difficult)


@dataclass(frozen=True)
class VocDetections:
    """Scored detections in full-image pixels.

    Attributes:
        image: (D,) int64 image index into the ground truth's ``image_names``.
        label: (D,) int64 class index into the ground truth's ``class_names``.
        score: (D,) float64 confidences.
        quads: (D, 4, 2) float64 vertices (horizontal boxes as TL, TR, BR, BL).
    """

    image: np.ndarray
    label: np.ndarray
    score: np.ndarray
    quads: np.ndarray

    def __post_init__(self) -> None:
        _check("detections", len(self.image), label=self.label, score=self.score, quads=self.quads)
