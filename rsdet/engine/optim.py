"""Optimiser and learning-rate schedule from the recipe.

Weight decay applies to conv / linear weights only: biases and normalisation weights
(every parameter with fewer than two dimensions) are exempt, because shrinking them
towards zero does not regularise anything and hurts BatchNorm-heavy detectors.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rsdet.engine.recipe import OptimConfig, ScheduleConfig

__all__ = ["build_optimizer", "lr_factor"]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD or AdamW over ``model``'s trainable parameters, in two weight-decay groups."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999))


def lr_factor(iteration: int, iters_per_epoch: int, epochs: int, cfg: ScheduleConfig) -> float:
    """Learning-rate multiplier at a (0-based, global) iteration.

    ``cosine``: from 1 at iteration 0 to ``min_lr_ratio`` at the last iteration.
    ``step``: ``gamma ** k`` where ``k`` counts the milestones (epochs) already reached.
    Both are multiplied by a linear warm-up from ``warmup_ratio`` to 1 over
    ``warmup_iters`` iterations (the mmcv / DCFL convention).
    """
    total = max(iters_per_epoch * epochs - 1, 1)
    if cfg.kind == "cosine":
        progress = min(iteration / total, 1.0)
        floor = cfg.min_lr_ratio
        factor = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    else:
        epoch = iteration // max(iters_per_epoch, 1)
        factor = cfg.gamma ** sum(1 for m in cfg.milestones if epoch >= m)
    if iteration < cfg.warmup_iters:
        factor *= 1 - (1 - cfg.warmup_ratio) * (1 - iteration / cfg.warmup_iters)
    return factor
