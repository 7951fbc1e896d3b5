import math

import pytest
import torch

from rsdet.models.mdca import MDCA, AxisGate, channel_kernel_size


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


def test_height_gate_by_hand():
    gate = AxisGate(axis=2, kernel_size=1)
    with torch.no_grad():
        gate.conv.weight.fill_(1.0)
        gate.mix.fill_(-100.0)  # sigmoid ~ 0: s = (mean + std) / 2
    x = torch.tensor([[[[1.0, 3.0], [5.0, 5.0]]]])  # (1, 1, 2, 2): rows [1, 3] and [5, 5]
    # Row 0: mean 2, population std 1 -> s = 1.5. Row 1: mean 5, std 0 -> s = 2.5.
    expected = torch.tensor([1 / (1 + math.exp(-1.5)), 1 / (1 + math.exp(-2.5))])
    g = gate(x)
    assert g.shape == (1, 1, 2, 1)
    assert torch.allclose(g.flatten(), expected)


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
