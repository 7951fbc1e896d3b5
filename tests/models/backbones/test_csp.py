import pytest
import torch

from rsdet.models.backbones.csp import C2f, CSPBackbone, scaled_depth, scaled_widths


def test_scaled_widths_and_depths_follow_yolov8_multipliers():
    # n: 64*0.25=16 ... 1024*0.25=256, capped at 128.
    assert scaled_widths(0.25, 128) == (16, 32, 64, 128, 128)
    assert scaled_widths(0.5, 512) == (32, 64, 128, 256, 512)
    # 0.75 x 64 = 48 is already a multiple of 8; 0.3 x 64 = 19.2 rounds up to 24.
    assert scaled_widths(0.75, 768)[0] == 48 and scaled_widths(0.3, 1024)[0] == 24
    assert [scaled_depth(n, 0.33) for n in (3, 6, 6, 3)] == [1, 2, 2, 1]
    assert scaled_depth(1, 0.1) == 1  # never zero blocks


@pytest.mark.parametrize("max_stride", [8, 16, 32])
def test_backbone_levels_strides_and_channels(max_stride):
    net = CSPBackbone(4, (8, 16, 24, 32, 40), (1, 1, 1, 1), max_stride=max_stride).eval()
    feats = net(torch.randn(2, 4, 64, 96))
    assert net.strides == tuple(s for s in (4, 8, 16, 32) if s <= max_stride)
    for f, s, c in zip(feats, net.strides, net.out_channels, strict=True):
        assert f.shape == (2, c, 64 // s, 96 // s)


def test_backbone_runs_down_to_a_1x1_map():
    net = CSPBackbone(3, (8, 16, 24, 32, 40), (1, 1, 1, 1)).train()
    feats = net(torch.randn(2, 3, 32, 32))
    assert feats[-1].shape[-2:] == (1, 1)
    feats[-1].sum().backward()
    assert torch.isfinite(net.stem[0].weight.grad).all()


def test_backbone_rejects_unsupported_stride():
    with pytest.raises(ValueError, match="max_stride"):
        CSPBackbone(max_stride=64)


def test_c2f_keeps_spatial_size_and_sets_channels():
    block = C2f(12, 20, n=3)
    assert block(torch.randn(1, 12, 5, 7)).shape == (1, 20, 5, 7)
