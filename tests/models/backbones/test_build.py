"""Backbones by name: declared strides and channels match what they return; bad names fail."""

import pytest
import torch

from rsdet.config import ConfigError
from rsdet.errors import InputError
from rsdet.models.backbones import BACKBONES, BackboneConfig, build_backbone


@pytest.mark.parametrize("name", ["csp-n", "csp-s", "resnet18"])
def test_declared_strides_and_channels_match_the_maps(name):
    net = build_backbone(BackboneConfig(name, in_channels=4)).eval()
    with torch.no_grad():
        maps = net(torch.zeros(1, 4, 64, 96))
    assert len(maps) == len(net.strides) == len(net.out_channels)
    for m, s, c in zip(maps, net.strides, net.out_channels, strict=True):
        assert m.shape == (1, c, 64 // s, 96 // s)


def test_csp_stops_at_the_asked_stride():
    net = build_backbone(BackboneConfig("csp-n", max_stride=16))
    assert net.strides == (4, 8, 16)


def test_every_name_builds():
    assert {"csp-n", "csp-s", "resnet18", "resnet34", "resnet50", "resnet101"} <= set(BACKBONES)


def test_bad_requests_are_config_errors_naming_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="unknown name 'vgg16'"):
        build_backbone(BackboneConfig("vgg16"))
    with pytest.raises(ConfigError, match="csp-n cannot load a weights file"):
        build_backbone(BackboneConfig("csp-n", weights=str(tmp_path / "w.pth")))
    with pytest.raises(ConfigError, match="ends at stride 32, not 16"):
        build_backbone(BackboneConfig("resnet18", max_stride=16))


def test_weights_are_read_only_when_asked(tmp_path):
    missing = BackboneConfig("resnet18", weights=str(tmp_path / "none.pth"))
    build_backbone(missing, load_weights=False)  # a checkpoint brings the weights instead
    with pytest.raises(InputError, match=r"none\.pth"):
        build_backbone(missing)
