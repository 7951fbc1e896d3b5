import math

import pytest
import torch

from rsdet.models.mdca import MDCA, AxisGate, axis_moments, channel_kernel_size


def test_channel_kernel_size_matches_mca_rule():
    # t = round(|log2 C - 1| / 1.5), made odd downwards, at least 1.
    assert [channel_kernel_size(c) for c in (16, 32, 64, 128, 256, 512)] == [1, 3, 3, 3, 5, 5]


def test_zero_conv_weights_give_half_gates_everywhere():
    torch.manual_seed(0)
    mdca = MDCA(8)
    for gate in (mdca.channel_gate, mdca.height_gate, mdca.width_gate):
        torch.nn.init.zeros_(gate.conv.weight)
    x = torch.randn(2, 8, 5, 7)
    # Every gate is sigmoid(0) = 0.5, so their mean is 0.5 too.
    assert torch.allclose(mdca(x), 0.5 * x)


def test_axis_moments_by_hand():
    x = torch.tensor([[[[1.0, 3.0], [5.0, 5.0]]]])  # (1, 1, 2, 2): rows [1, 3] and [5, 5]
    (c_mean, c_std), (h_mean, h_std), (w_mean, w_std) = axis_moments(x)
    assert c_mean.tolist() == [[3.5]] and c_std.item() == pytest.approx(math.sqrt(2.75))
    assert h_mean.tolist() == [[2.0, 5.0]]
    assert h_std[0, 0].item() == pytest.approx(1.0) and h_std[0, 1].item() < 1e-5  # constant row
    assert w_mean.tolist() == [[3.0, 4.0]] and w_std.tolist() == [[2.0, 1.0]]


def test_axis_gate_by_hand():
    gate = AxisGate(kernel_size=1)
    with torch.no_grad():
        gate.conv.weight.fill_(1.0)
        gate.mix.fill_(-100.0)  # sigmoid ~ 0: s = (mean + std) / 2
    g = gate(torch.tensor([[2.0, 5.0]]), torch.tensor([[1.0, 0.0]]))
    expected = torch.tensor([[1 / (1 + math.exp(-1.5)), 1 / (1 + math.exp(-2.5))]])
    assert torch.allclose(g, expected)


def _reference_mdca(mdca, x):
    """MCA written out directly: three gates from torch.mean / torch.std, averaged."""
    gated = []
    for gate, pooled, axis in (
        (mdca.channel_gate, (2, 3), 1),
        (mdca.height_gate, (1, 3), 2),
        (mdca.width_gate, (1, 2), 3),
    ):
        mean = x.mean(dim=pooled)
        std = x.std(dim=pooled, unbiased=False)
        a = gate(mean, std).unsqueeze(pooled[0]).unsqueeze(pooled[1])
        assert a.shape[axis] == x.shape[axis]
        gated.append(x * a)
    return sum(gated) / 3


def test_mdca_matches_the_direct_formula():
    torch.manual_seed(0)
    mdca = MDCA(16)
    x = torch.randn(2, 16, 6, 9) * 3 + 1
    assert torch.allclose(mdca(x), _reference_mdca(mdca, x), atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 16, 1, 1), (1, 16, 1, 9), (3, 16, 6, 1)])
def test_degenerate_maps_stay_finite_with_finite_gradients(shape):
    mdca = MDCA(16)
    x = torch.randn(*shape, requires_grad=True)
    y = mdca(x)
    y.sum().backward()
    assert y.shape == x.shape
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in mdca.parameters())


def test_output_is_input_scaled_by_a_factor_between_0_and_1():
    x = torch.randn(2, 8, 4, 6)
    ratio = MDCA(8)(x) / x
    # Each gate is a sigmoid, so the averaged gate lies strictly between 0 and 1.
    assert (ratio > 0).all() and (ratio < 1).all()
