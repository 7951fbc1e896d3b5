"""Model size and cost: parameter and FLOP counts.

Convention: **FLOPs = 2 x multiply-adds** of the convolutions and matrix products of one
raw forward pass (up to the raw outputs; decoding and NMS are not counted), as counted by
:class:`torch.utils.flop_counter.FlopCounterMode`. Element-wise work (batch norm,
activations, attention gates, resizing) is not counted either, the same convention as the
"GFLOPs" columns of the YOLO papers.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rsdet.models.contract import DetectorNetwork

__all__ = ["count_flops", "count_parameters"]


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN statistics excluded)."""
    return sum(p.numel() for p in module.parameters())


def count_flops(module: nn.Module, height: int, width: int, in_channels: int) -> int:
    """FLOPs of one eval-mode forward pass on a single zero image (see module docstring).

    Args:
        module: a :class:`~rsdet.models.contract.DetectorNetwork` (its raw forward), or any
            module taking one image batch.
        height, width: image size in pixels; for a detector network, rounded up to its
            ``size_divisor`` the way :class:`~rsdet.models.detector.Detector` pads inputs.
        in_channels: image bands.

    Returns:
        FLOPs (2 x multiply-adds). The module's train/eval mode is restored afterwards.
    """
    divisor = module.size_divisor if isinstance(module, DetectorNetwork) else 1
    h, w = math.ceil(height / divisor) * divisor, math.ceil(width / divisor) * divisor
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    images = torch.zeros(1, in_channels, h, w, device=device)
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            module(images)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops())
