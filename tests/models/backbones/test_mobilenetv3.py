"""MobileNetV3-Large, -BC and -D: shapes, parameter and MAC counts, TinyDet's tables, alignment."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
import torch
from torch import nn

from rsdet.models.backbones import (
    MOBILENETV3_BC,
    MOBILENETV3_D,
    MOBILENETV3_LARGE,
    Classifier,
    MobileNetV3,
)
from rsdet.models.backbones.mbconv import SqueezeExcite
from rsdet.models.flops import count_flops, count_flops_by_module, count_parameters

# TinyDet (arXiv 2304.03428) Tables 10-12: MFLOPs (= multiply-adds) per backbone row, stem
# first, the stride-64 blocks last; inputs 320 (S, M) and 512 (L).
PAPER_ROWS = {
    "S": [11.06, 10.24, 39.73, 26.27, 18.55, 20.17, 20.17, 23.90, 16.22, 17.76, 17.76, 19.33,
          31.37, 21.33, 16.68, 16.68, 20.26],
    "M": [16.59, 20.28, 64.97, 55.99, 55.99, 55.99, 39.58, 41.78, 41.78, 31.58, 13.52, 12.44,
          12.44, 38.71, 62.86, 42.76, 33.58, 33.58, 20.26, 8.74],
    "L": [42.47, 51.91, 166.33, 143.33, 143.33, 143.33, 101.31, 106.92, 106.92, 80.86, 34.61,
          31.84, 31.84, 98.91, 160.56, 109.12, 85.25, 85.25, 51.15, 21.66],
}  # fmt: skip
PAPER_TOTALS = {"S": 347.48, "M": 703.42, "L": 1796.90}
# Our multiply-adds per row (FlopCounterMode: every conv, the SE convs included).
OUR_ROWS = {
    "S": [11059200, 10240000, 39731200, 26265600, 18549792, 20167200, 20167200, 23904000,
          16224000, 17760000, 17760000, 19324800, 31371648, 21325248, 16675200, 16675200,
          20260800],
    "M": [16588800, 20275200, 64972800, 55987200, 55987200, 55987200, 39577032, 41776200,
          41776200, 31584000, 13520000, 12438400, 12438400, 38707200, 62856192, 42763392,
          33580800, 33580800, 20260800, 8740800],
    "L": [42467328, 51904512, 166330368, 143327232, 143327232, 143327232, 101308104,
          106921800, 106921800, 80855040, 34611200, 31842304, 31842304, 98910720, 160559616,
          109122048, 85248000, 85248000, 51148800, 21657600],
}  # fmt: skip
TINYDET = {"S": (MOBILENETV3_D, 320), "M": (MOBILENETV3_BC, 320), "L": (MOBILENETV3_BC, 512)}


def _rows(net, size):
    """Multiply-adds of the stem conv and of every block, in order (one paper row each)."""
    meta = torch.zeros(1, 3, size, size, device="meta")  # shapes only: counts without compute
    flops = count_flops_by_module(net.to("meta"), meta, depth=3)
    names = ["conv_stem"]
    names += [f"blocks.{s}.{j}" for s, stage in enumerate(net.blocks) for j in range(len(stage))]
    names += [f"extra.{j}" for j in range(len(net.extra))]
    return [flops[n] // 2 for n in names], flops[""] // 2


def _paper_rounding(macs):
    """The paper's rounding of MMACs: half up to 3 decimals, then to 2 (19.3248 -> 19.33)."""
    three = Decimal(macs / 1e6).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    return float(three.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_tinydet_backbone_tables_are_reproduced_row_by_row(size):
    spec, side = TINYDET[size]
    rows, total = _rows(MobileNetV3(spec, max_stride=64), side)
    assert rows == OUR_ROWS[size]
    assert total == sum(rows)  # nothing else in the backbone is counted
    # Every printed row is our count under the paper's (double) rounding; its total is the
    # sum of the rounded rows. Our exact totals are 347.461, 703.399, 1796.881 MMACs.
    assert [_paper_rounding(r) for r in rows] == PAPER_ROWS[size]
    assert round(sum(PAPER_ROWS[size]), 2) == PAPER_TOTALS[size]
    assert total / 1e6 == pytest.approx(PAPER_TOTALS[size], rel=1e-4)


def test_large_matches_timm_and_torchvision_counts():
    # timm mobilenetv3_large_100 = torchvision mobilenet_v3_large: 5,483,032 parameters;
    # 216.6 M MACs at 224 measured on timm with FlopCounterMode (wave2_anchors section 4).
    net = MobileNetV3(MOBILENETV3_LARGE, num_classes=1000)
    assert count_parameters(net) == 5_483_032
    assert count_flops(Classifier(net).to("meta"), 224, 224, 3) // 2 == 216_589_760
    # timm features_only (out_indices 1-4): 2.972 M parameters, 1.11 G MACs at 512.
    features = MobileNetV3(MOBILENETV3_LARGE)
    assert count_parameters(features) == 2_971_952
    assert count_flops(features.to("meta"), 512, 512, 3) // 2 == 1_112_096_640


@pytest.mark.parametrize(
    ("spec", "channels", "params"),
    [
        (MOBILENETV3_LARGE, (24, 40, 112, 960), 2_971_952),
        (MOBILENETV3_BC, (36, 60, 112, 160, 160), 4_488_152),
        (MOBILENETV3_D, (24, 40, 112, 160, 160), 1_958_368),
    ],
)
def test_levels_strides_channels_and_size(spec, channels, params):
    max_stride = 64 if len(channels) == 5 else 32
    net = MobileNetV3(spec, in_channels=4, max_stride=max_stride).eval()
    with torch.no_grad():
        feats = net(torch.randn(2, 4, 128, 192))
    assert net.strides == (4, 8, 16, 32, 64)[: len(channels)]
    assert net.out_channels == channels
    for f, s, c in zip(feats, net.strides, channels, strict=True):
        assert f.shape == (2, c, 128 // s, 192 // s)
    assert count_parameters(MobileNetV3(spec, max_stride=max_stride)) == params


def test_tinydet_blocks_follow_the_official_code():
    net = MobileNetV3(MOBILENETV3_BC, max_stride=64)
    assert type(net.blocks[0][0]).__name__ == "DepthwiseSeparable"  # BlockE1, residual
    assert net.blocks[0][0].has_skip
    se = net.blocks[2][0].se  # SeModule(108): 108 -> 27 -> 108, no biases
    assert se.conv_reduce.weight.shape == (27, 108, 1, 1) and se.conv_reduce.bias is None
    assert all(
        m.eps == 1e-5 and m.momentum == 0.1 for m in net.modules() if isinstance(m, nn.BatchNorm2d)
    )
    large_se = MobileNetV3().blocks[2][0].se  # timm / torchvision: round8(72 / 4) = 24, bias
    assert large_se.conv_reduce.weight.shape == (24, 72, 1, 1)
    assert large_se.conv_reduce.bias is not None


def test_fewer_levels_and_invalid_requests():
    assert MobileNetV3(MOBILENETV3_D, max_stride=16).strides == (4, 8, 16)
    assert len(MobileNetV3(MOBILENETV3_BC, max_stride=8).blocks) == 3  # stages past /8 not built
    with pytest.raises(ValueError, match="no stride-64 stage"):
        MobileNetV3(MOBILENETV3_LARGE, max_stride=64)
    with pytest.raises(ValueError, match="needs max_stride 32"):
        MobileNetV3(MOBILENETV3_BC, max_stride=64, num_classes=10)
    with pytest.raises(RuntimeError, match="without a classification head"):
        MobileNetV3().classify(torch.zeros(1, 3, 32, 32))


def test_classification_head_of_tinydet_backbones():
    net = MobileNetV3(MOBILENETV3_D, num_classes=7).eval()  # TinyDet's with_fc: 960 conv + head
    with torch.no_grad():
        assert net.classify(torch.zeros(2, 3, 64, 64)).shape == (2, 7)
        assert [f.shape[1] for f in net(torch.zeros(1, 3, 64, 64))] == [24, 40, 112, 160]


def _receptive_centre(align, size, cell):
    """Row of the input pixel at the centre of gravity of one stride-32 cell's gradient.

    All convs average their inputs and SE gates are constant, so the gradient map is the
    cell's effective receptive field, symmetric about the point the cell really sees.
    """
    net = MobileNetV3(MOBILENETV3_BC, align=align).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / m.weight[0].numel())
            if isinstance(m, SqueezeExcite):
                m.conv_reduce.weight.zero_()
                m.conv_expand.weight.zero_()
    images = torch.ones(1, 3, size, size, requires_grad=True)
    net(images)[3][0, :, cell, cell].sum().backward()
    weight = images.grad[0].abs().sum(0).sum(1).double()  # (H,) gradient mass per row
    return float((weight * torch.arange(size)).sum() / weight.sum())


def test_feature_alignment_moves_cells_onto_their_centres():
    # A stride-32 cell j covers input rows 32j .. 32j + 31, centre 32j + 15.5. Without the
    # pool every stride-2 conv (stem, 4 stages) loses half an input cell: 0.5+1+2+4+8 = 15.5
    # px, the paper's misalignment; with it only the stem's 0.5 px remains (TinyDet does not
    # pool before the stem).
    cell = 8
    assert _receptive_centre(False, 512, cell) == pytest.approx(32 * cell, abs=1e-3)
    assert _receptive_centre(True, 512, cell) == pytest.approx(32 * cell + 15.0, abs=1e-2)


def test_alignment_keeps_sizes_and_weights():
    plain, aligned = MobileNetV3(MOBILENETV3_BC, align=False), MobileNetV3(MOBILENETV3_BC)
    assert plain.state_dict().keys() == aligned.state_dict().keys()
    aligned.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 96, 160)
    with torch.no_grad():
        a, b = plain.eval()(x), aligned.eval()(x)
    assert [t.shape for t in a] == [t.shape for t in b]
    assert not torch.allclose(a[-1], b[-1])  # the switch changes the features
