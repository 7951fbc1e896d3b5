"""Model size and cost: parameter and FLOP counts.

Convention: **FLOPs = 2 x multiply-adds** of the convolutions and matrix products of one
raw forward pass (up to the raw outputs; decoding and NMS are not counted), as counted by
:class:`torch.utils.flop_counter.FlopCounterMode`. Element-wise work (batch norm,
activations, attention gates, resizing) is not counted either, the same convention as the
"GFLOPs" columns of the YOLO papers.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rsdet.models.contract import DetectorNetwork

__all__ = ["count_flops", "count_flops_by_module", "count_macs", "count_parameters"]


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


def count_macs(module: nn.Module, *inputs: Any, conv_bias: bool = False) -> int:
    """Multiply-adds of one eval-mode forward pass ``module(*inputs)`` (FLOPs / 2).

    Args:
        module: any module; its train/eval mode is restored afterwards.
        inputs: its positional arguments.
        conv_bias: also count one addition per output element of every ``Conv2d`` with a
            bias, as mmcv's flops counter does (the convention of the TinyDet paper's tables);
            neither counts linear biases.
    """
    adds = [0]  # one entry per biased conv call: its output elements
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d) and m.bias is not None]
    hooks = [c.register_forward_hook(lambda _m, _i, y: adds.append(y.numel())) for c in convs]
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            module(*inputs)
    finally:
        module.train(was_training)
        for h in hooks:
            h.remove()
    return int(counter.get_total_flops()) // 2 + (sum(adds) if conv_bias else 0)


def count_flops_by_module(
    module: nn.Module, images: torch.Tensor, depth: int = 1
) -> dict[str, int]:
    """FLOPs of one eval-mode ``module(images)``, per submodule (2 x multiply-adds, as above).

    Args:
        module: any module taking one batch (``images`` is passed as it is, not padded).
        images: its input.
        depth: how many levels of submodules to report (1: the direct children).

    Returns:
        ``{path: FLOPs}``: ``""`` for the whole pass, then every submodule at most ``depth``
        levels down that ran counted operations, by its ``named_modules`` path (e.g.
        ``"blocks.2.0"``). Paths nest, so a parent's count includes its children's; work
        done directly in a parent's ``forward`` is in the parent only. Divide by 2 for the
        multiply-adds that papers (MobileNet, TinyNet, TinyDet) call "FLOPs". The module's
        train/eval mode is restored afterwards.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            module(images)
    finally:
        module.train(was_training)
    counts = {"": int(counter.get_total_flops())}
    for name, ops in counter.get_flop_counts().items():
        _root, dot, path = name.partition(".")  # "<root class>.blocks.2.0" -> "blocks.2.0"
        if dot and path.count(".") < depth:
            counts[path] = int(sum(ops.values()))
    return counts
