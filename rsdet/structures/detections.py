"""``Detections``: boxes with their scores and labels, kept equally long."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rsdet.structures.hboxes import HBoxes
from rsdet.structures.rboxes import RBoxes

__all__ = ["Detections"]


class Detections:
    """N detections in one image frame: ``boxes`` (HBoxes or RBoxes), ``scores``, ``labels``.

    Args:
        boxes: N horizontal or oriented boxes, in pixels of the image they refer to.
        scores: (N,) confidences in [0, 1].
        labels: (N,) int64 class indices, 0-based into the model's class list.

    Index it like a tensor (``dets[dets.scores > 0.5]``); every field follows.
    """

    def __init__(self, boxes: HBoxes | RBoxes, scores: Tensor, labels: Tensor) -> None:
        scores = torch.as_tensor(scores)
        labels = torch.as_tensor(labels).to(torch.int64)
        if not (len(boxes) == scores.numel() == labels.numel()):
            raise ValueError(
                f"Detections fields differ in length: {len(boxes)} boxes, "
                f"{scores.numel()} scores, {labels.numel()} labels"
            )
        self.boxes = boxes
        self.scores = scores.reshape(-1)
        self.labels = labels.reshape(-1)

    @classmethod
    def empty(cls, oriented: bool = False) -> Detections:
        """Zero detections of the given box type."""
        boxes: HBoxes | RBoxes = (
            RBoxes(torch.zeros(0, 5)) if oriented else HBoxes(torch.zeros(0, 4))
        )
        return cls(boxes, torch.zeros(0), torch.zeros(0, dtype=torch.int64))

    @property
    def oriented(self) -> bool:
        """True when the boxes are :class:`RBoxes`."""
        return isinstance(self.boxes, RBoxes)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, item: Any) -> Detections:
        if isinstance(item, int):
            item = slice(item, item + 1)
        return Detections(self.boxes[item], self.scores[item], self.labels[item])

    def __repr__(self) -> str:
        kind = "RBoxes" if self.oriented else "HBoxes"
        return f"Detections(n={len(self)}, boxes={kind})"

    def to(self, *args: Any, **kwargs: Any) -> Detections:
        """Move to a device (dtype changes apply to boxes and scores only)."""
        boxes = self.boxes.to(*args, **kwargs)
        return Detections(boxes, self.scores.to(*args, **kwargs), self.labels.to(boxes.device))

    @staticmethod
    def cat(items: Sequence[Detections]) -> Detections:
        """Concatenate detections that share one box type (an empty list is an error)."""
        if not items:
            raise ValueError("Detections.cat needs at least one item (use Detections.empty)")
        oriented = {d.oriented for d in items}
        if len(oriented) != 1:
            raise ValueError("cannot concatenate horizontal and oriented detections")
        boxes: HBoxes | RBoxes
        if items[0].oriented:
            boxes = RBoxes.cat([d.boxes for d in items if isinstance(d.boxes, RBoxes)])
        else:
            boxes = HBoxes.cat([d.boxes for d in items if isinstance(d.boxes, HBoxes)])
        return Detections(
            boxes,
            torch.cat([d.scores for d in items]),
            torch.cat([d.labels for d in items]),
        )

    def numpy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(boxes (N, 4|5), scores (N,), labels (N,))`` as numpy arrays."""
        return (
            self.boxes.numpy(),
            self.scores.detach().cpu().numpy(),
            self.labels.detach().cpu().numpy(),
        )
