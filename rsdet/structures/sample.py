"""``Sample``: one annotated image, whatever format it came from.

Every reader (DOTA, AI-TOD, DIOR / DIOR-R, GeoTIFF + vector labels) produces ``Sample``s,
and everything downstream (splitting, training, evaluation) consumes them, so the formats
meet in exactly one place.

Geometry is stored as **polygons** of 4 vertices in continuous pixel coordinates of the
image (pixel ``(0, 0)`` covers ``[0, 1) x [0, 1)``). A horizontal box ``x1 y1 x2 y2`` is
stored as its 4 corners (TL, TR, BR, BL); :meth:`Sample.hboxes` and :meth:`Sample.rboxes`
give the typed views. DOTA quadrilaterals keep their original vertex order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsdet.structures.hboxes import HBoxes
from rsdet.structures.rboxes import RBoxes

__all__ = ["DIFFICULT", "NORMAL", "TRUNCATED", "Sample"]

# Values of Sample.difficulty (DOTA semantics, used for every format).
NORMAL = 0
DIFFICULT = 1  # flagged hard by the annotators (DOTA "difficult", DIOR "difficult")
TRUNCATED = 2  # cut by a patch border so that less than the threshold of it remains


@dataclass
class Sample:
    """One annotated image.

    Attributes:
        image_id: stable identifier, the image file stem (DOTA result files use it).
        height, width: image size in pixels.
        polygons: (N, 4, 2) float64 object outlines, pixels.
        labels: (N,) int64 class indices into the dataset's class list.
        difficulty: (N,) int8, one of NORMAL, DIFFICULT, TRUNCATED.
        crowd: (N,) bool, COCO ``iscrowd`` (a region, not an instance).
        image_path: where the pixels are (PNG, JPEG or GeoTIFF); None for in-memory images.
        image: (H, W, C) pixels when held in memory (synthetic data), else None.
        meta: format-specific extras (``gsd``, ``imagesource``, COCO ``id``, CRS, transform...).
    """

    image_id: str
    height: int
    width: int
    polygons: np.ndarray
    labels: np.ndarray
    difficulty: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    crowd: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    image_path: Path | None = None
    image: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.polygons = np.asarray(self.polygons, dtype=np.float64).reshape(-1, 4, 2)
        n = len(self.polygons)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if self.difficulty.size == 0 and n:
            self.difficulty = np.zeros(n, np.int8)
        if self.crowd.size == 0 and n:
            self.crowd = np.zeros(n, bool)
        self.difficulty = np.asarray(self.difficulty, dtype=np.int8).reshape(-1)
        self.crowd = np.asarray(self.crowd, dtype=bool).reshape(-1)
        if not (len(self.labels) == len(self.difficulty) == len(self.crowd) == n):
            raise ValueError(
                f"{self.image_id}: {n} polygons but {len(self.labels)} labels, "
                f"{len(self.difficulty)} difficulty flags, {len(self.crowd)} crowd flags"
            )

    def __len__(self) -> int:
        return len(self.polygons)

    def hboxes(self) -> HBoxes:
        """Axis-aligned envelopes of the polygons, (N, 4) ``x1 y1 x2 y2`` float64."""
        if len(self) == 0:
            return HBoxes(np.zeros((0, 4)))
        lo, hi = self.polygons.min(axis=1), self.polygons.max(axis=1)
        return HBoxes(np.concatenate([lo, hi], axis=1))

    def rboxes(self) -> RBoxes:
        """Minimum-area oriented boxes of the polygons, in rsdet's canonical convention."""
        return RBoxes.from_polygons(self.polygons)

    def subset(self, keep: np.ndarray) -> Sample:
        """A copy keeping only the objects selected by the bool / index array ``keep``."""
        return Sample(
            image_id=self.image_id,
            height=self.height,
            width=self.width,
            polygons=self.polygons[keep],
            labels=self.labels[keep],
            difficulty=self.difficulty[keep],
            crowd=self.crowd[keep],
            image_path=self.image_path,
            image=self.image,
            meta=dict(self.meta),
        )
