"""Backbones by name: declared strides and channels match what they return; bad names fail."""

import pytest
import torch

from rsdet.config import ConfigError, from_dict
from rsdet.errors import InputError
from rsdet.models.backbones import BACKBONES, BackboneConfig, build_backbone
from rsdet.models.dcfl import DCFLConfig


@pytest.mark.parametrize(
    "name", ["csp-n", "csp-s", "resnet18", "mobilenetv3-large", "mobilenetv3-d", "tinynet-e"]
)
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
    mobile = {"mobilenetv3-large", "mobilenetv3-bc", "mobilenetv3-d", "efficientnet-b0"}
    assert mobile | {f"tinynet-{s}" for s in "abcde"} <= set(BACKBONES)
    for name in BACKBONES:
        if not name.startswith("resnet"):  # the ResNets build in the tests above
            net = build_backbone(BackboneConfig(name))
            assert net.strides[-1] == 32 and len(net.out_channels) == len(net.strides)


def test_tinydet_backbones_reach_stride_64():
    net = build_backbone(BackboneConfig("mobilenetv3-bc", max_stride=64))
    assert net.strides == (4, 8, 16, 32, 64) and net.out_channels == (36, 60, 112, 160, 160)
    assert build_backbone(BackboneConfig("tinynet-c", max_stride=16)).strides == (4, 8, 16)


def test_any_name_is_a_dcfl_backbone_and_a_bad_one_fails_early():
    assert DCFLConfig(backbone="tinynet-c").backbone_config().name == "tinynet-c"
    with pytest.raises(ConfigError, match="backbone: unknown name 'tinynet-z'"):
        from_dict(DCFLConfig, {"backbone": "tinynet-z"})


def test_bad_requests_are_config_errors_naming_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="unknown name 'vgg16'"):
        build_backbone(BackboneConfig("vgg16"))
    with pytest.raises(ConfigError, match="csp-n cannot load a weights file"):
        build_backbone(BackboneConfig("csp-n", weights=str(tmp_path / "w.pth")))
    with pytest.raises(ConfigError, match="ends at stride 32, not 16"):
        build_backbone(BackboneConfig("resnet18", max_stride=16))
    with pytest.raises(ConfigError, match="tinynet-c ends at stride 8, 16, 32, not 64"):
        build_backbone(BackboneConfig("tinynet-c", max_stride=64))


def test_weights_are_read_only_when_asked(tmp_path):
    missing = BackboneConfig("resnet18", weights=str(tmp_path / "none.pth"))
    build_backbone(missing, load_weights=False)  # a checkpoint brings the weights instead
    with pytest.raises(InputError, match=r"none\.pth"):
        build_backbone(missing)
