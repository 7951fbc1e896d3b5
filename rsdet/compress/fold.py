"""Fold each BatchNorm's running statistics into its affine scale and shift, in half precision.

Inference computes ``(x - mean) / sqrt(var + eps) * weight + bias``: two per-channel numbers
(a scale and a shift) do the work of four. On RS-TinyNet-n the four fp32 BatchNorm vectors
take 66 KB, a third of a 20x ``.rsdz`` file. After folding, ``running_mean`` is all zeros and
``running_var`` all ones, which the file stores as one value each, and the scale and shift are
rounded to float16 values, which it stores in two bytes each (:func:`rsdet.models.rsdz.write_rsdz`
picks both encodings by itself, losslessly). The network stays an ordinary fp32 network with
BatchNorm layers; :func:`rsdet.models.zoo.load_model` folds them into the convs as usual.

In eval mode the folded network computes the same function up to float rounding (and the
float16 rounding of scale and shift, which the pipeline scores). In training mode BatchNorm
normalises with batch statistics, so there the folded network differs: a file meant for further
training is written without folding (``rsdet compress --keep-bn``).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["fold_batchnorm_stats"]


@torch.no_grad()
def fold_batchnorm_stats(network: nn.Module) -> int:
    """In place: every affine BatchNorm with running statistics becomes mean 0, var 1.

    ``weight`` becomes ``weight * sqrt(1 + eps) / sqrt(var + eps)`` and ``bias`` becomes
    ``bias - mean * weight / sqrt(var + eps)``, both rounded to the nearest float16 value
    (kept as float32 tensors). Layers without affine parameters or running stats are left.

    Returns:
        How many BatchNorm layers were folded.
    """
    folded = 0
    for module in network.modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue
        mean, var = module.running_mean, module.running_var
        if mean is None or var is None or module.weight is None or module.bias is None:
            continue
        inv_std = torch.rsqrt(var.double() + module.eps)
        scale = module.weight.double() * inv_std
        shift = module.bias.double() - mean.double() * scale
        # eval divides by sqrt(1 + eps) once var is 1, so the scale carries it back
        scale = scale * (1.0 + module.eps) ** 0.5
        module.weight.copy_(_half_if_finite(scale))
        module.bias.copy_(_half_if_finite(shift))
        mean.zero_()
        var.fill_(1.0)
        folded += 1
    return folded


def _half_if_finite(values: torch.Tensor) -> torch.Tensor:
    """``values`` rounded to float16 values, or kept float32 where float16 would overflow."""
    rounded = values.half().float()
    return rounded if bool(torch.isfinite(rounded).all()) else values.float()
