"""Sparsity counts against a hand-computed toy, dynamic pruning, and MACs against flops.py."""

import pytest
import torch
from torch import nn

from rsdet.analysis.sparsity import (
    FeatureMapProbe,
    bandwidth_by_kind,
    byte_weighted_share,
    conv_kind,
    element_share,
    mac_weighted_share,
    parameter_zeros,
    run_probe,
)
from rsdet.models.flops import count_macs, count_macs_by_part
from rsdet.models.zoo import load_model

pytestmark = pytest.mark.usefixtures("one_thread")


def toy() -> tuple[nn.Module, torch.Tensor]:
    """Two convs with known zeros in weights and inputs (counts worked out in the tests).

    conv1 (1x1, 2 -> 3, no bias) copies input channel 0 to output 0; outputs 1 and 2 are 0.
    The input's channel 0 is rows of [0, 0.005, 1, -1]; channel 1 is all 0.
    """
    net = nn.Sequential(nn.Conv2d(2, 3, 1, bias=False), nn.Conv2d(3, 1, 3, padding=1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]).view(3, 2, 1, 1))
        net[1].weight.fill_(1.0)
        net[1].bias.zero_()
    x = torch.zeros(1, 2, 4, 4)
    x[0, 0] = torch.tensor([0.0, 0.005, 1.0, -1.0])
    return net, x


def test_counts_match_the_hand_computed_toy():
    net, x = toy()
    layers = run_probe(net, [x], eps=(0.0, 0.01))
    first, second = layers["0"], layers["1"]
    # conv1 input: 32 elements; channel 1 (16) and a quarter of channel 0 (4) are 0,
    # another quarter is 0.005.
    assert (first.input_elements, first.below[0.0], first.below[0.01]) == (32, 20, 24)
    # conv2 input: channel 0 is the input's channel 0, channels 1 and 2 are all 0.
    assert (second.input_elements, second.below[0.0], second.below[0.01]) == (48, 36, 40)
    assert (first.dead_channels, second.dead_channels) == (1, 2)
    assert (first.kind, second.kind) == ("pointwise", "conv")
    # MACs: 3 x 16 outputs x 2 inputs; 16 outputs x 3 x 3 x 3.
    assert (first.macs, second.macs) == (96, 432)
    assert element_share(layers.values(), 0.0) == pytest.approx(56 / 80)
    assert mac_weighted_share(layers.values(), 0.0) == pytest.approx(
        (96 * 20 / 32 + 432 * 36 / 48) / 528
    )
    # bytes read: inputs 32 and 48 floats, weights 6 and 27 + 1 floats; skipping saves inputs.
    assert byte_weighted_share(layers.values(), 0.0) == pytest.approx(4 * 56 / (4 * (80 + 34)))
    kinds = bandwidth_by_kind(layers.values())
    assert kinds["pointwise"] == {
        "layers": 1,
        "macs": 96,
        "input_bytes": 128,
        "weight_bytes": 24,
        "output_bytes": 192,
    }


def test_parameter_zeros_per_layer():
    net, _ = toy()
    stats = {s.name: (s.elements, s.zeros) for s in parameter_zeros(net)}
    assert stats == {"0": (6, 4), "1": (28, 1)}  # conv2: 27 ones and a zero bias


def test_pruning_zeroes_inputs_within_eps_before_each_conv():
    net, x = toy()
    with torch.no_grad():
        plain_on_pruned_input = net(x.masked_fill(x.abs() <= 0.01, 0))
        with FeatureMapProbe(net, eps=(0.01,), prune_eps=0.01) as probe:
            pruned = net(x)
        plain = net(x)
    assert torch.equal(pruned, plain_on_pruned_input)
    assert not torch.equal(pruned, plain)  # the 0.005 entries did contribute
    assert probe.layers["0"].below[0.01] == 24
    assert not net[0]._forward_pre_hooks  # the hooks are gone after the block


def test_pruning_at_eps_zero_is_the_plain_forward_of_a_network_without_zeros():
    network = load_model("trees", device="cpu").network  # SiLU everywhere, BN folded
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        plain = network(x)
        with FeatureMapProbe(network, eps=(0.0,), prune_eps=0.0) as probe:
            pruned = network(x)
    assert element_share(probe.layers.values(), 0.0) == 0.0  # no exact zero anywhere
    for a, b in zip(plain, pruned, strict=True):
        assert torch.equal(a, b)


def test_per_conv_macs_match_flops_py():
    network = load_model("trees", device="cpu").network
    x = torch.randn(1, 3, 32, 64)
    layers = run_probe(network, [x])
    convs = [(n, m) for n, m in network.named_modules() if isinstance(m, nn.Conv2d)]
    # every 8th conv and the last one: each part costs flops.py two hooks that read its
    # counter, so all 88 would take seconds
    parts = dict(convs[::8] + convs[-1:])
    assert {conv_kind(m) for m in parts.values()} == {"conv", "pointwise", "depthwise"}
    by_part = count_macs_by_part(network, (x,), parts)
    assert {n: layers[n].macs for n in parts} == {n: by_part[n] for n in parts}
    # convs do nearly all of the network's multiply-adds (the rest: a small matmul in decoding)
    total = count_macs(network, x)
    assert 0.999 * total <= sum(s.macs for s in layers.values()) <= total


def test_negative_eps_is_refused():
    net, _ = toy()
    with pytest.raises(ValueError, match="eps must be >= 0"):
        FeatureMapProbe(net, eps=(-1.0,))
