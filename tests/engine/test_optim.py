"""Learning-rate schedules and weight-decay groups."""

import pytest
import torch
from torch import nn

from rsdet.engine.optim import build_optimizer, lr_factor
from rsdet.engine.recipe import OptimConfig, ScheduleConfig


def test_cosine_with_warmup():
    cfg = ScheduleConfig(kind="cosine", warmup_iters=10, warmup_ratio=0.1, min_lr_ratio=0.05)
    assert lr_factor(0, 10, 5, cfg) == pytest.approx(0.1)
    assert lr_factor(5, 10, 5, cfg) < lr_factor(9, 10, 5, cfg) < 1
    assert lr_factor(10, 10, 5, cfg) == pytest.approx(
        0.05 + 0.95 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * 10 / 49)).item())
    )
    assert lr_factor(49, 10, 5, cfg) == pytest.approx(0.05)


def test_dcfl_step_schedule_with_mmcv_warmup():
    # DCFL: linear warm-up over 500 iterations from 1/3, x0.1 at epochs 8 and 11 of 12.
    cfg = ScheduleConfig(kind="step", warmup_iters=500, warmup_ratio=1 / 3, milestones=(8, 11))
    assert lr_factor(0, 1000, 12, cfg) == pytest.approx(1 / 3)
    assert lr_factor(250, 1000, 12, cfg) == pytest.approx(2 / 3)
    assert lr_factor(500, 1000, 12, cfg) == 1.0
    assert lr_factor(7999, 1000, 12, cfg) == 1.0
    assert lr_factor(8000, 1000, 12, cfg) == pytest.approx(0.1)
    assert lr_factor(11000, 1000, 12, cfg) == pytest.approx(0.01)


def test_no_weight_decay_on_biases_and_norms():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    for name in ("sgd", "adamw"):
        opt = build_optimizer(model, OptimConfig(name=name, weight_decay=0.1))
        decay, none = opt.param_groups
        assert decay["weight_decay"] == 0.1 and none["weight_decay"] == 0.0
        assert all(p.ndim >= 2 for p in decay["params"]) and len(decay["params"]) == 2
        assert all(p.ndim == 1 for p in none["params"]) and len(none["params"]) == 4
    assert isinstance(build_optimizer(model, OptimConfig(name="sgd")), torch.optim.SGD)
