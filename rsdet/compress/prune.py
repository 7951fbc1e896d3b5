"""Magnitude pruning: which weights go, and keeping them at zero while the rest train.

Deep Compression (§2) removes the weights of smallest magnitude and retrains the others.
A *mask* is a bool tensor of a weight's shape, True where the weight is kept. Thresholds
are global (one magnitude over every prunable tensor: layers with many small weights lose
more) or per layer (every tensor keeps the same share).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["Masks", "Scope", "magnitude_masks", "prunable"]

Scope = Literal["global", "layer"]


def prunable(network: nn.Module, min_weights: int) -> dict[str, nn.Parameter]:
    """Conv and linear weights (2 or more dims) with at least ``min_weights`` elements.

    Small tensors stay dense: the first conv (3 input bands) and the 1x1 prediction convs
    of the heads hold few weights each, so pruning them saves little and costs accuracy
    (docs/compress.md measures it).
    """
    return {
        name: p
        for name, p in network.named_parameters()
        if p.ndim >= 2 and p.numel() >= min_weights
    }


def magnitude_masks(
    weights: Mapping[str, Tensor], sparsity: float, scope: Scope
) -> dict[str, Tensor]:
    """Keep-masks removing the ``sparsity`` share of smallest-magnitude weights.

    Args:
        weights: tensors by name.
        sparsity: share of weights to remove, in [0, 1).
        scope: ``global`` (one threshold over all tensors) or ``layer`` (one per tensor).
    """
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity {sparsity} is not in [0, 1)")
    if scope == "layer":
        return {name: _keep_largest(w.detach().abs(), sparsity) for name, w in weights.items()}
    magnitudes = torch.cat([w.detach().abs().flatten() for w in weights.values()])
    threshold = _threshold(magnitudes, sparsity)
    return {name: w.detach().abs() > threshold for name, w in weights.items()}


def _keep_largest(magnitude: Tensor, sparsity: float) -> Tensor:
    return magnitude > _threshold(magnitude.flatten(), sparsity)


def _threshold(magnitudes: Tensor, sparsity: float) -> float:
    """The magnitude at or below which ``sparsity`` of the values lie (-1: keep all)."""
    n = round(sparsity * magnitudes.numel())
    if n == 0:
        return -1.0
    return float(torch.kthvalue(magnitudes.float().cpu(), n).values)


class Masks:
    """Masks applied to a network's parameters; pruned weights stay exactly zero.

    Call :meth:`before_step` after ``backward`` (pruned weights get no gradient, so
    momentum never builds up for them) and :meth:`after_step` after the optimiser step
    (weight decay or a stale optimiser state cannot revive them either).
    """

    def __init__(self, params: Mapping[str, nn.Parameter], masks: Mapping[str, Tensor]) -> None:
        self.params = dict(params)
        self.masks = {name: masks[name].to(p.device) for name, p in self.params.items()}
        self.after_step()

    def before_step(self) -> None:
        """Zero the gradients of pruned weights."""
        for name, p in self.params.items():
            if p.grad is not None:
                p.grad.mul_(self.masks[name])

    @torch.no_grad()
    def after_step(self) -> None:
        """Set pruned weights back to zero."""
        for name, p in self.params.items():
            p.mul_(self.masks[name])

    def kept(self) -> int:
        """Weights left in the masked tensors."""
        return int(sum(int(m.sum()) for m in self.masks.values()))
