"""Folding BatchNorm statistics into a float16 scale and shift keeps the eval-mode network."""

import torch
from torch import nn

from rsdet.compress.fold import fold_batchnorm_stats


def trained_block(seed):
    """conv -> BN -> ReLU with non-trivial running statistics and affine parameters."""
    torch.manual_seed(seed)
    block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    bn = block[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-2, 2)
        bn.running_var.uniform_(0.1, 5)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)
    return block.eval()


def test_the_folded_network_computes_the_same_function_in_eval_mode():
    block = trained_block(0)
    x = torch.randn(2, 3, 16, 16)
    before = block(x)
    assert fold_batchnorm_stats(block) == 1
    bn = block[1]
    assert torch.equal(bn.running_mean, torch.zeros(8)) and torch.equal(
        bn.running_var, torch.ones(8)
    )
    for p in (bn.weight, bn.bias):  # float32 tensors holding float16 values: 2 bytes in .rsdz
        assert p.dtype == torch.float32 and torch.equal(p.half().float(), p)
    after = block(x)
    assert torch.allclose(after, before, rtol=2e-3, atol=2e-3)  # float16 rounding only
    assert not torch.equal(after, before)  # it did round


def test_batchnorm_without_affine_or_statistics_is_left_alone():
    net = nn.Sequential(
        nn.BatchNorm2d(4, affine=False), nn.BatchNorm2d(4, track_running_stats=False)
    )
    with torch.no_grad():
        net[0].running_mean.fill_(3.0)
    assert fold_batchnorm_stats(net) == 0
    assert torch.equal(net[0].running_mean, torch.full((4,), 3.0))


def test_a_scale_beyond_float16_stays_float32():
    block = trained_block(1)
    with torch.no_grad():
        block[1].running_var[0] = 1e-12
        block[1].weight[0] = 1e3  # scale 1e3 / sqrt(1e-5) ~ 3e5, beyond float16's 65504
    fold_batchnorm_stats(block)
    assert torch.isfinite(block[1].weight).all() and block[1].weight[0] > 65504
