"""``Targets``: the ground truth of one training image, in that image's pixel frame."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rsdet.structures.hboxes import HBoxes
from rsdet.structures.rboxes import RBoxes

__all__ = ["Targets"]


@dataclass
class Targets:
    """Ground truth for one image.

    Attributes:
        boxes: N boxes in pixels of the (augmented, resized) training image.
        labels: (N,) int64 class indices, 0-based.
        ignore: (N,) bool; True for "difficult" / crowd / truncated objects that should
            neither be learnt as positives nor punish detections (their region is ignored).
    """

    boxes: HBoxes | RBoxes
    labels: Tensor
    ignore: Tensor

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.labels.numel() != n or self.ignore.numel() != n:
            raise ValueError(
                f"Targets fields differ in length: {n} boxes, {self.labels.numel()} labels, "
                f"{self.ignore.numel()} ignore flags"
            )

    def __len__(self) -> int:
        return len(self.boxes)

    def to(self, device: torch.device | str) -> Targets:
        """Move every field to ``device``."""
        return Targets(self.boxes.to(device), self.labels.to(device), self.ignore.to(device))
