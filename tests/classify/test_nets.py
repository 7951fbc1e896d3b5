import pytest
import torch

from rsdet.classify.nets import InceptionV3, PixelMLP, TinyCNN, tinynet_classifier
from rsdet.errors import InputError
from rsdet.models.backbones import Classifier


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# arXiv 2105.04895 Tables XVIII-XIX (8 classes); wave2_anchors.md §1.5.
REPORT_COUNTS = [
    ((32, 64, 128, 256), False, 390_952),
    ((16, 32, 64, 128), False, 98_712),
    ((32, 64, 128), False, 94_504),
    ((16, 32, 64), False, 24_216),
    ((32, 64, 128, 256), True, 48_617),
    ((16, 32, 64, 128), True, 13_577),
    ((16, 32, 64), True, 3_913),
]


@pytest.mark.parametrize(("widths", "depthwise", "count"), REPORT_COUNTS)
def test_tinycnn_reproduces_the_reports_parameter_counts(widths, depthwise, count):
    assert n_params(TinyCNN(widths, depthwise, 8)) == count


def test_tinycnn_halves_per_block_and_returns_logits():
    net = TinyCNN((16, 32, 64), True, 5)
    assert net.features(torch.zeros(2, 3, 64, 64)).shape == (2, 64, 8, 8)
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 5)


def test_inception_matches_torchvision_without_the_aux_head():
    # torchvision inception_v3: 27,161,264 parameters, of which AuxLogits 3,326,696.
    net = InceptionV3(1000)
    assert n_params(net) == 27_161_264 - 3_326_696
    assert "Mixed_7c.branch3x3dbl_3b.conv.weight" in net.state_dict()
    assert net.eval()(torch.zeros(1, 3, 75, 75)).shape == (1, 1000)


def test_tinynet_classifier_is_the_shared_backbone_classifier():
    net = tinynet_classifier("e", 4)
    assert isinstance(net, Classifier)
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 4)
    with pytest.raises(InputError, match="tinynet-z"):
        tinynet_classifier("z", 4)


def test_mlp_maps_pixels_to_logits():
    net = PixelMLP(16, (32,), 3)
    assert net(torch.zeros(4, 3, 16, 16)).shape == (4, 3)
    assert n_params(net) == 3 * 16 * 16 * 32 + 32 + 32 * 3 + 3
