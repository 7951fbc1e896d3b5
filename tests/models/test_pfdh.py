import math

import pytest
import torch

from rsdet.models.pfdh import ASFF, LevelFusion, ProgressiveFusion, Resample


def _pyramid(channels, finest=8, batch=1):
    return [
        torch.randn(batch, c, finest // 2**i, finest // 2**i, requires_grad=True)
        for i, c in enumerate(channels)
    ]


def test_asff_weights_are_a_per_pixel_softmax_over_inputs():
    fuse = ASFF(6, n=3)
    xs = [torch.randn(2, 6, 5, 7) for _ in range(3)]
    w = fuse.weights(xs)
    assert w.shape == (2, 3, 5, 7)
    assert torch.allclose(w.sum(dim=1), torch.ones(2, 5, 7))
    assert fuse(xs).shape == (2, 6, 5, 7)


def test_resample_up_down_and_identity():
    x = torch.randn(1, 8, 8, 8)
    assert Resample(8, 4, shift=2)(torch.randn(1, 8, 2, 2), (8, 8)).shape == (1, 4, 8, 8)
    down = Resample(8, 16, shift=-3).eval()  # 8x8 conv, stride 8
    assert down(x, (1, 1)).shape == (1, 16, 1, 1)
    assert down.conv[0].kernel_size == (8, 8) and down.conv[0].stride == (8, 8)
    assert Resample(8, 8, shift=0)(x, (8, 8)) is x
    with pytest.raises(ValueError):
        Resample(8, 4, shift=0)


@pytest.mark.parametrize("channels", [[8, 16], [8, 16, 24], [8, 16, 24, 32]])
def test_progressive_fusion_keeps_shapes_down_to_1x1(channels):
    neck = ProgressiveFusion(channels, depth=1)
    feats = _pyramid(channels, batch=2)  # finest 8x8, coarsest 1x1 for four levels
    outs = neck(feats)
    assert [o.shape for o in outs] == [f.shape for f in feats]
    assert neck.stage_sizes == list(range(2, len(channels) + 1))


def test_coarsest_level_joins_in_the_last_stage_only():
    channels = [8, 16, 24, 32]
    neck = ProgressiveFusion(channels).eval()
    feats = _pyramid(channels, finest=16)
    x = [r(f) for r, f in zip(neck.reduce, feats, strict=True)]
    x[:2] = neck.stages[0](x[:2])
    x[:3] = neck.stages[1](x[:3])
    x[0].sum().backward(retain_graph=True)
    assert feats[2].grad.abs().sum() > 0 and feats[3].grad is None
    outs = neck(feats)
    outs[0].sum().backward()
    assert feats[3].grad.abs().sum() > 0  # after the last stage every level reaches stride 4


def test_fusion_starts_by_favouring_the_own_level():
    level = LevelFusion([8, 16], dst=1).eval()
    # Zero inputs: the compress convs give 0, so the logits are the biases (0, 2).
    w = level.fuse.weights([torch.zeros(1, 16, 2, 2)] * 2)
    own = math.exp(2) / (math.exp(2) + 1)  # 0.88
    assert torch.allclose(w[:, 1], torch.full((1, 2, 2), own))
    assert torch.allclose(w[:, 0], torch.full((1, 2, 2), 1 - own))


def test_fusion_is_added_to_each_level():
    channels = [8, 16, 24]
    neck = ProgressiveFusion(channels).eval()
    for expand in neck.expand:
        torch.nn.init.zeros_(expand[0].weight)  # conv -> 0, BN(0) = 0, SiLU(0) = 0
    feats = _pyramid(channels)
    assert all(torch.equal(o, f) for o, f in zip(neck(feats), feats, strict=True))


def test_progressive_fusion_needs_two_levels():
    with pytest.raises(ValueError):
        ProgressiveFusion([8])
