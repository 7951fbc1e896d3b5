"""Precise BatchNorm statistics before evaluation (detectron2's PreciseBN).

After Wu & Johnson, "Rethinking 'Batch' in BatchNorm" (2021). BatchNorm layers keep an
exponential moving average of batch statistics with a small momentum (0.03 in the
YOLO-style blocks), so the statistics lag behind weights that still move fast, and those of
an EMA copy are an average of stale averages. Evaluated with such statistics a model can
score zero although its weights are good: a 100-iteration CPU run on synthetic vehicles went
from AP50 0 to 0.69 with nothing but this recalibration. Recomputing the statistics as a
plain average over a few training batches fixes it; the weights are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from rsdet.structures import Targets

__all__ = ["recompute_bn_stats"]


@torch.no_grad()
def recompute_bn_stats(
    module: nn.Module, batches: Iterable[tuple[Tensor, list[Targets]]], device: torch.device
) -> int:
    """Replace every BatchNorm layer's running statistics by their mean over ``batches``.

    The network runs in train mode (with targets, as the contract requires) under
    ``torch.random.fork_rng``, so the global random stream -- and with it the rest of
    training -- is the same whether or not this runs.

    Returns:
        The number of BatchNorm layers recomputed (0: nothing to do).
    """
    norms = [
        m for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]  # fmt: skip
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    was_training = module.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: every batch weighs the same
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        module.train()
        for images, targets in batches:
            module(images.to(device), [t.to(device) for t in targets])
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    module.train(was_training)
    return len(norms)
