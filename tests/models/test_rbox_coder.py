import math

import pytest
import torch

from rsdet.models.rbox_coder import DCFL_CODER, RBoxCoder
from rsdet.structures import RBoxes


def _random_le135(n: int, gen: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 1000
    a = 2 + torch.rand(n, 2, generator=gen, dtype=torch.float64) * 60
    t = torch.rand(n, 1, generator=gen, dtype=torch.float64) * 10 - 5
    return RBoxes(torch.cat([xy, a, t], dim=1)).to_le135()


@pytest.mark.parametrize("coder", [DCFL_CODER, RBoxCoder(angle_factor=None, proj_xy=False)])
def test_round_trip_in_le135(coder):
    gen = torch.Generator().manual_seed(0)
    boxes = _random_le135(500, gen)
    priors = _random_le135(500, gen)
    priors[:, 2:4] = priors[:, 2:4].clamp(min=boxes[:, 2:4] / 50)  # stay within the wh clip
    out = coder.decode(priors, coder.encode(priors, boxes))
    torch.testing.assert_close(out, boxes, rtol=0, atol=1e-9)


def test_decode_by_hand():
    prior = torch.tensor([[100.0, 50.0, 32.0, 32.0, 0.0]])
    deltas = torch.tensor([[0.5, -0.25, math.log(2), 0.0, 0.25]])
    # x = 100 + 0.5 * 32, y = 50 - 0.25 * 32, w = 64, h = 32, theta = pi / 4 (x pi: norm_factor 1).
    out = DCFL_CODER.decode(prior, deltas)
    torch.testing.assert_close(out, torch.tensor([[116.0, 42.0, 64.0, 32.0, math.pi / 4]]))
    # The assigner's default coder applies dtheta in radians.
    raw = RBoxCoder(angle_factor=None, proj_xy=False).decode(prior, deltas)
    assert raw[0, 4].item() == pytest.approx(0.25)


def test_angle_wraps_into_le135_and_size_is_clipped():
    prior = torch.tensor([[0.0, 0.0, 32.0, 32.0, 0.0]])
    out = DCFL_CODER.decode(prior, torch.tensor([[0.0, 0.0, 100.0, -100.0, 0.9]]))
    # 0.9 pi = 2.83 rad is past 3 pi / 4: it wraps to -0.1 pi.
    assert out[0, 4].item() == pytest.approx(-0.1 * math.pi)
    assert out[0, 2].item() == pytest.approx(32 * 1000 / 16, rel=1e-5)
    assert out[0, 3].item() == pytest.approx(32 * 16 / 1000, rel=1e-5)


def test_proj_xy_rotates_centre_deltas():
    prior = torch.tensor([[10.0, 10.0, 20.0, 10.0, math.pi / 2]])
    out = DCFL_CODER.decode(prior, torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]]))
    # One prior width along its own x axis, which points down the image at theta = pi/2.
    torch.testing.assert_close(out[0, :2], torch.tensor([10.0, 30.0]), rtol=0, atol=1e-5)


def test_max_shape_clamps_centres():
    prior = torch.tensor([[10.0, 10.0, 32.0, 32.0, 0.0]])
    out = DCFL_CODER.decode(prior, torch.tensor([[-5.0, 5.0, 0, 0, 0]]), max_shape=(64, 48))
    assert out[0, :2].tolist() == [0.0, 64.0]
