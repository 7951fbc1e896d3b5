"""mmdet-v1 anchors and delta coder, in rsdet's continuous box frame."""

import math

import pytest
import torch

from rsdet.models.anchors import AnchorGenerator, DeltaCoder, inside_image


def _v1_base_anchors(base_size, scales, ratios):
    """mmdet v1 AnchorGenerator.gen_base_anchors, transcribed (inclusive integer ends)."""
    w = h = base_size
    x_ctr, y_ctr = 0.5 * (w - 1), 0.5 * (h - 1)
    h_ratios = torch.sqrt(torch.tensor(ratios))
    w_ratios = 1 / h_ratios
    scales = torch.tensor(scales)
    ws = (w * w_ratios[:, None] * scales[None, :]).view(-1)
    hs = (h * h_ratios[:, None] * scales[None, :]).view(-1)
    return torch.stack(
        [
            x_ctr - 0.5 * (ws - 1),
            y_ctr - 0.5 * (hs - 1),
            x_ctr + 0.5 * (ws - 1),
            y_ctr + 0.5 * (hs - 1),
        ],
        dim=-1,
    ).round()


def test_tinydet_m_stride_4_anchors_by_hand():
    # scale 3.2, stride 4: w = 12.8 / sqrt(r), h = 12.8 sqrt(r), centred on the cell centre (2, 2),
    # corners rounded as v1 does. r = 1: 12.8 -> corners -4.4 / 7.4 -> -4 / 7, i.e. 12 px wide.
    # r = 0.5: 18.10 x 9.05 -> v1 (-7, -3, 10, 6) -> 18 x 10 px.
    base = AnchorGenerator((4,), (3.2,)).base_anchors(4)
    expect = torch.tensor(
        [[-7.0, -3.0, 11.0, 7.0], [-4.0, -4.0, 8.0, 8.0], [-3.0, -7.0, 7.0, 11.0]]
    )
    torch.testing.assert_close(base, expect)


@pytest.mark.parametrize(
    ("scale", "strides"), [(2.25, (8, 16, 32, 64)), (3.2, (4, 64)), (5.12, (4, 8, 16))]
)
def test_base_anchors_are_mmdet_v1_with_inclusive_ends_made_edges(scale, strides):
    gen = AnchorGenerator(strides, (scale,))
    for s in strides:
        v1 = _v1_base_anchors(s, [scale], [0.5, 1.0, 2.0])
        torch.testing.assert_close(gen.base_anchors(s), v1 + torch.tensor([0.0, 0.0, 1.0, 1.0]))
        # v1's pixel-index centre 0.5 (s - 1) is the continuous cell centre s / 2 (up to the
        # rounding of odd sizes, at most half a pixel).
        centre = (gen.base_anchors(s)[:, :2] + gen.base_anchors(s)[:, 2:]) / 2
        assert (centre - s / 2).abs().max() <= 0.5


def test_grid_order_is_cell_major_then_anchor_like_the_rpn_outputs():
    gen = AnchorGenerator((8,), (2.0,), (1.0, 2.0))
    grid = gen.grid(8, 2, 3)  # 2 rows, 3 columns, 2 anchors
    assert grid.shape == (12, 4)
    base = gen.base_anchors(8)
    # row (i * W + j) * A + a is anchor a of cell (i, j), shifted by (8 j, 8 i)
    torch.testing.assert_close(grid[(1 * 3 + 2) * 2 + 1], base[1] + torch.tensor([16.0, 8, 16, 8]))
    assert [a.shape for a in gen([(2, 3)])] == [(12, 4)]
    with pytest.raises(ValueError, match="2 feature maps for 1 strides"):
        gen([(2, 3), (1, 2)])


def _v1_bbox2delta(p, g, stds):
    px, py = (p[:, 0] + p[:, 2]) * 0.5, (p[:, 1] + p[:, 3]) * 0.5
    pw, ph = p[:, 2] - p[:, 0] + 1.0, p[:, 3] - p[:, 1] + 1.0
    gx, gy = (g[:, 0] + g[:, 2]) * 0.5, (g[:, 1] + g[:, 3]) * 0.5
    gw, gh = g[:, 2] - g[:, 0] + 1.0, g[:, 3] - g[:, 1] + 1.0
    d = torch.stack([(gx - px) / pw, (gy - py) / ph, torch.log(gw / pw), torch.log(gh / ph)], 1)
    return d / torch.tensor(stds, dtype=d.dtype)


def _v1_delta2bbox(p, d, stds):
    d = d * torch.tensor(stds, dtype=d.dtype)
    px, py = (p[:, 0] + p[:, 2]) * 0.5, (p[:, 1] + p[:, 3]) * 0.5
    pw, ph = p[:, 2] - p[:, 0] + 1.0, p[:, 3] - p[:, 1] + 1.0
    gw, gh = pw * d[:, 2].exp(), ph * d[:, 3].exp()
    gx, gy = px + pw * d[:, 0], py + ph * d[:, 1]
    return torch.stack(
        [gx - gw * 0.5 + 0.5, gy - gh * 0.5 + 0.5, gx + gw * 0.5 - 0.5, gy + gh * 0.5 - 0.5], 1
    )


def _boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 100
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 60 + 2
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize("stds", [(1.0, 1.0, 1.0, 1.0), (0.1, 0.1, 0.2, 0.2)])
def test_delta_coder_is_the_v1_coder_on_inclusive_boxes(stds):
    priors, gts = _boxes(50, 0), _boxes(50, 1)
    ones = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    coder = DeltaCoder(stds)
    deltas = coder.encode(priors, gts)
    torch.testing.assert_close(deltas, _v1_bbox2delta(priors - ones, gts - ones, stds))
    torch.testing.assert_close(coder.decode(priors, deltas), gts)  # round trip
    v1 = _v1_delta2bbox(priors - ones, deltas, stds) + ones
    torch.testing.assert_close(coder.decode(priors, deltas), v1)


def test_decode_clamps_the_size_ratio_and_clips_to_the_image():
    coder = DeltaCoder()
    prior = torch.tensor([[10.0, 10.0, 20.0, 20.0]])
    big = coder.decode(prior, torch.tensor([[0.0, 0.0, 10.0, 0.0]]))
    assert big[0, 2] - big[0, 0] == pytest.approx(10 * 1000 / 16, rel=1e-5)  # exp(|log 16/1000|)
    clipped = coder.decode(prior, torch.tensor([[0.0, 0.0, 10.0, 0.0]]), max_shape=(30, 40))
    torch.testing.assert_close(clipped, torch.tensor([[0.0, 10.0, 40.0, 20.0]]))
    assert coder.max_ratio == pytest.approx(math.log(1000 / 16))


def test_inside_image_is_v1_allowed_border():
    anchors = torch.tensor([[0.0, 0, 10, 10], [-1, 0, 10, 10], [50, 50, 64, 64], [50, 50, 65, 64]])
    assert inside_image(anchors, (64, 64)).tolist() == [True, False, True, False]
    assert inside_image(anchors, (64, 64), 1.0).tolist() == [True, True, True, True]
    assert inside_image(anchors, (64, 64), -1.0).all()
