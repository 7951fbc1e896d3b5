"""Model size and cost: parameter and FLOP counts.

Convention: **FLOPs = 2 x multiply-adds** of the convolutions and matrix products of one
raw forward pass (up to the raw outputs; decoding and NMS are not counted), as counted by
:class:`torch.utils.flop_counter.FlopCounterMode`. Element-wise work (batch norm,
activations, attention gates, resizing) is not counted either, the same convention as the
"GFLOPs" columns of the YOLO papers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rsdet.models.contract import DetectorNetwork

__all__ = [
    "HasParts",
    "count_flops",
    "count_flops_by_module",
    "count_macs",
    "count_macs_by_part",
    "count_parameters",
]


@runtime_checkable
class HasParts(Protocol):
    """A network that names its parts for cost breakdowns (TinyDet, RS-TinyNet, DCFL)."""

    def parts(self) -> dict[str, nn.Module]:
        """Part name -> submodule, in forward order."""
        ...


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
    counter = FlopCounterMode(display=False)
    _counted_eval_pass(module, (images,), counter)
    return int(counter.get_total_flops())


def _counted_eval_pass(module: nn.Module, inputs: tuple[Any, ...], counter: Any) -> None:
    """``module(*inputs)`` once, in eval mode and inference mode, under ``counter``.

    The module's train/eval mode is restored afterwards, whatever happens.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode(), counter:
            module(*inputs)
    finally:
        module.train(was_training)


def count_macs(module: nn.Module, *inputs: Any, conv_bias: bool = False) -> int:
    """Multiply-adds of one eval-mode forward pass ``module(*inputs)`` (FLOPs / 2).

    Args:
        module: any module; its train/eval mode is restored afterwards.
        inputs: its positional arguments.
        conv_bias: also count one addition per output element of every ``Conv2d`` with a
            bias, as mmcv's flops counter does (the convention of the TinyDet paper's tables);
            neither counts linear biases.
    """
    return count_macs_by_part(module, inputs, {}, conv_bias=conv_bias)[""]


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
    counter = FlopCounterMode(display=False)
    _counted_eval_pass(module, (images,), counter)
    counts = {"": int(counter.get_total_flops())}
    for name, ops in counter.get_flop_counts().items():
        _root, dot, path = name.partition(".")  # "<root class>.blocks.2.0" -> "blocks.2.0"
        if dot and path.count(".") < depth:
            counts[path] = int(sum(ops.values()))
    return counts


def count_macs_by_part(
    module: nn.Module,
    inputs: tuple[Any, ...],
    parts: Mapping[str, nn.Module],
    conv_bias: bool = False,
) -> dict[str, int]:
    """Multiply-adds of one eval-mode ``module(*inputs)``, in all and per part.

    Each part's count is the work done while it runs (every call, e.g. a head shared by the
    pyramid levels), so parts may nest (``backbone`` and ``backbone.blocks.0``); work outside
    every part is only in the total.

    Args:
        module: any module; its train/eval mode is restored afterwards.
        inputs: its positional arguments.
        parts: name -> a submodule of ``module`` called during its forward (or a
            ``ModuleList`` / ``ModuleDict`` whose members are).
        conv_bias: also count one addition per output element of biased ``Conv2d`` s, as
            :func:`count_macs` does.

    Returns:
        ``{"": total, name: multiply-adds}`` (a part that never ran counts 0).
    """
    adds = [0]  # running total of biased conv output elements

    def conv_hook(_m: nn.Module, _i: Any, y: torch.Tensor) -> None:
        adds[0] += y.numel()

    counter = FlopCounterMode(display=False)
    flops = dict.fromkeys(parts, 0)
    bias = dict.fromkeys(parts, 0)
    open_calls: dict[str, list[tuple[int, int]]] = {name: [] for name in parts}

    def enter(name: str) -> Any:
        def hook(_m: nn.Module, _i: Any) -> None:
            open_calls[name].append((counter.get_total_flops(), adds[0]))

        return hook

    def leave(name: str) -> Any:
        def hook(_m: nn.Module, _i: Any, _o: Any) -> None:
            f0, a0 = open_calls[name].pop()
            flops[name] += counter.get_total_flops() - f0
            bias[name] += adds[0] - a0

        return hook

    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d) and m.bias is not None]
    hooks = [c.register_forward_hook(conv_hook) for c in convs]
    for name, part in parts.items():
        # a ModuleList / ModuleDict is never called itself: its members are
        members = part.children() if isinstance(part, nn.ModuleList | nn.ModuleDict) else [part]
        for m in members:
            hooks += [
                m.register_forward_pre_hook(enter(name)),
                m.register_forward_hook(leave(name)),
            ]
    try:
        _counted_eval_pass(module, inputs, counter)
    finally:
        for h in hooks:
            h.remove()
    total = int(counter.get_total_flops()) // 2 + (adds[0] if conv_bias else 0)
    per_part = {n: int(flops[n]) // 2 + (bias[n] if conv_bias else 0) for n in parts}
    return {"": total, **per_part}
