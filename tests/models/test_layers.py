"""BatchNorm folding for inference (``fuse_conv_bn``), as ``load_model`` applies it."""

import torch
from torch import nn

from rsdet.models.layers import ConvNormAct, fuse_conv_bn
from rsdet.models.spec import Postprocess
from rsdet.models.zoo import build_network


def _randomise_bn(module: nn.Module) -> None:
    # Fresh BatchNorms are identities (mean 0, var 1, gamma 1, beta 0): folding them would
    # prove nothing.
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)


def test_fused_block_gives_the_same_output_grouped_and_strided():
    block = nn.Sequential(ConvNormAct(8, 8, 3, 2, groups=8), ConvNormAct(8, 4, 1))
    _randomise_bn(block)
    block.eval()
    x = torch.randn(2, 8, 17, 23)
    before = block(x)
    assert fuse_conv_bn(block) == 2
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    torch.testing.assert_close(block(x), before, atol=1e-5, rtol=1e-5)


def test_fused_rs_tinynet_detects_the_same_boxes():
    torch.manual_seed(0)
    net = build_network("rs_tinynet", {"size": "n", "num_classes": 2, "in_channels": 3})
    net.deploy()
    _randomise_bn(net)
    net.eval()
    x = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        post = Postprocess(score_thr=0.0, max_det=50)
        before = net.detect(x, post)[0]
        assert fuse_conv_bn(net) > 50
        after = net.detect(x, post)[0]
    assert len(before) > 0 and len(after) == len(before)
    torch.testing.assert_close(after.scores, before.scores, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(after.boxes.tensor, before.boxes.tensor, atol=1e-3, rtol=1e-4)


def test_batch_statistics_layers_are_left_alone():
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    assert fuse_conv_bn(seq) == 0 and isinstance(seq[1], nn.BatchNorm2d)
