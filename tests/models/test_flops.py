import torch
from torch import nn

from rsdet.models.contract import DetectorNetwork
from rsdet.models.flops import count_flops, count_flops_by_module, count_parameters


class _Padded(DetectorNetwork):
    size_divisor = 8
    box_type = "hbox"

    def __init__(self, *conv_args, **conv_kwargs):
        super().__init__()
        self.conv = nn.Conv2d(*conv_args, **conv_kwargs)

    def forward(self, images, targets=None):
        return self.conv(images)

    def decode(self, raw, image_hw, postprocess):
        raise NotImplementedError


def test_conv_flops_by_hand():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    # 2 x (8 outputs x 3 x 3 x 3 weights) per pixel x 10 x 10 pixels.
    assert count_flops(conv, 10, 10, 3) == 2 * 8 * 27 * 100


def test_input_is_padded_to_the_size_divisor():
    conv = _Padded(3, 8, 3, padding=1, bias=False)
    assert count_flops(conv, 10, 10, 3) == 2 * 8 * 27 * 16 * 16


def test_training_mode_is_restored():
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)).train()
    count_flops(net, 4, 4, 1)
    assert net.training
    net.eval()
    count_flops(net, 4, 4, 1)
    assert not net.training


def test_parameters_by_hand():
    assert count_parameters(nn.Conv2d(3, 8, 3)) == 8 * 27 + 8
    assert count_parameters(nn.BatchNorm2d(4)) == 8  # weight and bias; running stats excluded
    assert count_parameters(nn.Sequential()) == 0
    assert torch.is_grad_enabled()


def test_flops_by_module_nest_and_add_up():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),  # 8 x 27 MACs per pixel
        nn.Sequential(nn.Conv2d(8, 4, 1, bias=False), nn.ReLU(), nn.Conv2d(4, 2, 1)),
    ).train()
    flops = count_flops_by_module(net, torch.zeros(1, 3, 10, 10), depth=2)
    first, inner_a, inner_b = 2 * 8 * 27 * 100, 2 * 4 * 8 * 100, 2 * 2 * 4 * 100
    assert flops == {
        "": first + inner_a + inner_b,
        "0": first,
        "1": inner_a + inner_b,
        "1.0": inner_a,
        "1.2": inner_b,  # the ReLU counts nothing and is absent
    }
    assert count_flops_by_module(net, torch.zeros(1, 3, 10, 10)) == {
        k: v for k, v in flops.items() if "." not in k
    }  # depth 1: the direct children only
    assert flops[""] == count_flops(net, 10, 10, 3)
    assert net.training  # mode restored
