import math

import numpy as np
import pytest
import torch

from rsdet.structures import RBoxes, bhattacharyya_distance, gjsd, kld, rboxes_to_gaussian


def _rand(rng, n):
    return RBoxes(
        torch.tensor(
            np.stack(
                [
                    rng.uniform(0, 1024, n),
                    rng.uniform(0, 1024, n),
                    rng.uniform(2, 80, n),
                    rng.uniform(2, 80, n),
                    rng.uniform(-math.pi, math.pi, n),
                ],
                1,
            )
        )
    )


def test_gaussian_of_axis_aligned_box():
    mu, sigma = rboxes_to_gaussian(RBoxes([[3.0, 4.0, 8.0, 2.0, 0.0]]))
    assert mu.tolist() == [[3.0, 4.0]]
    assert sigma[0].reshape(-1).tolist() == pytest.approx([16.0, 0.0, 0.0, 1.0])


def test_gaussian_is_invariant_to_box_spelling():
    a = RBoxes(torch.tensor([[0, 0, 8.0, 2.0, 0.3]], dtype=torch.float64))
    b = RBoxes(torch.tensor([[0, 0, 2.0, 8.0, 0.3 + math.pi / 2]], dtype=torch.float64))
    c = RBoxes(torch.tensor([[0, 0, 8.0, 2.0, 0.3 + math.pi]], dtype=torch.float64))
    sa, sb, sc = (rboxes_to_gaussian(x)[1] for x in (a, b, c))
    assert torch.allclose(sa, sb) and torch.allclose(sa, sc)


def test_distances_are_zero_on_identical_boxes_and_symmetric_where_expected():
    rng = np.random.default_rng(0)
    a, b = _rand(rng, 500), _rand(rng, 500)
    ma, sa = rboxes_to_gaussian(a)
    mb, sb = rboxes_to_gaussian(b)
    assert bhattacharyya_distance(ma, sa, ma, sa).abs().max() < 1e-9
    assert kld(ma, sa, ma, sa).abs().max() < 1e-9
    assert torch.allclose(
        bhattacharyya_distance(ma, sa, mb, sb), bhattacharyya_distance(mb, sb, ma, sa)
    )
    assert (bhattacharyya_distance(ma, sa, mb, sb) >= -1e-9).all()
    assert (kld(ma, sa, mb, sb) >= -1e-9).all()


def test_gjsd_half_equals_bhattacharyya_and_general_alpha_formula():
    rng = np.random.default_rng(1)
    a, b = _rand(rng, 300), _rand(rng, 300)
    ma, sa = rboxes_to_gaussian(a)
    mb, sb = rboxes_to_gaussian(b)
    # The general closed form (alpha = 0.5 + tiny) approaches the Bhattacharyya shortcut.
    near = gjsd(ma, sa, mb, sb, alpha=0.5 + 1e-9)
    assert torch.allclose(near, bhattacharyya_distance(ma, sa, mb, sb), rtol=1e-5, atol=1e-6)
    # Limits: alpha -> 0 or 1 gives 0 divergence weight... the GJSD with alpha=0 is 0.
    assert gjsd(ma, sa, mb, sb, alpha=1e-12).abs().max() < 1e-6


def test_kld_by_hand_for_shifted_identical_gaussians():
    # Same covariance diag(16, 1), mean shifted by 4 in x: KL = 1/2 * 4^2 / 16 = 0.5.
    a = RBoxes(torch.tensor([[0, 0, 8.0, 2.0, 0.0]], dtype=torch.float64))
    b = RBoxes(torch.tensor([[4, 0, 8.0, 2.0, 0.0]], dtype=torch.float64))
    (ma, sa), (mb, sb) = rboxes_to_gaussian(a), rboxes_to_gaussian(b)
    assert kld(ma, sa, mb, sb).item() == pytest.approx(0.5)
    # Bhattacharyya with equal covariances: 1/8 * 16 / 16 = 0.125.
    assert bhattacharyya_distance(ma, sa, mb, sb).item() == pytest.approx(0.125)


def test_pairwise_broadcasting_and_degenerate_boxes_are_finite():
    boxes = RBoxes(torch.tensor([[0, 0, 0.0, 0.0, 0.0], [1, 1, 4, 2, 0.5]], dtype=torch.float64))
    mu, s = rboxes_to_gaussian(boxes)
    m = bhattacharyya_distance(mu[:, None], s[:, None], mu[None], s[None])
    assert m.shape == (2, 2)
    assert torch.isfinite(m).all()
