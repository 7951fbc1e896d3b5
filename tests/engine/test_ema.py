"""The weight average: its arithmetic, its ramp, and its state round trip."""

import math

import torch
from torch import nn

from rsdet.engine.ema import ModelEMA


def test_average_follows_the_ramped_decay_and_copies_integer_buffers():
    model = nn.BatchNorm1d(2)
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    with torch.no_grad():
        model.weight.fill_(3.0)
    model.num_batches_tracked += 7
    ema.update(model)
    d = 0.9 * (1 - math.exp(-1))
    assert torch.allclose(ema.module.weight, torch.full((2,), 1 * d + 3 * (1 - d)))
    assert ema.module.num_batches_tracked.item() == 7
    assert not ema.module.weight.requires_grad


def test_state_round_trip():
    model = nn.Linear(2, 2)
    a = ModelEMA(model)
    a.update(model)
    b = ModelEMA(nn.Linear(2, 2))
    b.load_state_dict(a.state_dict())
    assert b.updates == 1 and torch.equal(a.module.weight, b.module.weight)
