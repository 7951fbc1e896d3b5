"""Exponential moving average of a model's weights (what rsdet evaluates and ships).

Averaging the weights of the last few thousand iterations smooths out the noise of
small-batch SGD; it usually adds AP for free. All floating-point tensors of the state dict
are averaged (BatchNorm running statistics included); integer buffers are copied.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

__all__ = ["ModelEMA"]


class ModelEMA:
    """An averaged copy of a model.

    Args:
        model: the model being trained (unwrapped, not the DDP wrapper).
        decay: asymptotic decay per update.
        tau: ramp in updates; the decay used is ``decay * (1 - exp(-updates / tau))``.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9998, tau: float = 2000.0) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend ``model``'s current weights into the average."""
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        current = model.state_dict()
        for name, avg in self.module.state_dict().items():
            new = current[name].detach()
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(new.to(avg.dtype), alpha=1 - d)
            else:
                avg.copy_(new)

    def state_dict(self) -> dict[str, Any]:
        """Weights and update count (for resuming)."""
        return {"weights": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.module.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
