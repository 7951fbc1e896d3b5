"""Builders shared by the model tests."""

import torch

from rsdet.structures import HBoxes, Targets


def hbox_targets(boxes, labels=None, ignore=None) -> Targets:
    """Targets of one image from xyxy rows; labels 0 and nothing ignored unless given."""
    n = len(boxes)
    return Targets(
        HBoxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)),
        torch.zeros(n, dtype=torch.long) if labels is None else torch.tensor(labels),
        torch.zeros(n, dtype=torch.bool) if ignore is None else torch.tensor(ignore),
    )
