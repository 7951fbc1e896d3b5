"""timm, torchvision and TinyDet state-dict names: fixtures from published tables, round trips."""

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from rsdet.errors import InputError
from rsdet.models.backbones import (
    MOBILENETV3_BC,
    MOBILENETV3_D,
    MOBILENETV3_LARGE,
    TINYNETS,
    BackboneConfig,
    EfficientNet,
    EfficientNetScale,
    MobileNetV3,
    build_backbone,
)
from rsdet.models.backbones.keymaps import detect_naming, key_map

FIXTURE = Path(__file__).parent / "fixtures" / "mobilenetv3_large.json"


def _fixture():
    return json.loads(FIXTURE.read_text())["params"]  # [tv name, shape, timm name, shape]


def _named(net, naming):
    """``net``'s state dict renamed to ``naming`` (with torchvision's Linear head shapes)."""
    modules = key_map(net, naming)
    out = {}
    for key, value in net.state_dict().items():
        module, _, leaf = key.rpartition(".")
        linear = naming != "timm" and module == "conv_head" and net.family == "mobilenetv3"
        out[f"{modules[module]}.{leaf}"] = (
            value.flatten(1) if linear and value.dim() == 4 else value
        )
    return out


def test_fixture_is_mobilenetv3_large_of_both_libraries():
    rows = _fixture()
    assert len(rows) == 174
    assert sum(math.prod(r[1]) for r in rows) == sum(math.prod(r[3]) for r in rows) == 5_483_032


def test_timm_names_and_shapes_are_ours():
    net = MobileNetV3(MOBILENETV3_LARGE, num_classes=1000)
    ours = [(k, list(p.shape)) for k, p in net.named_parameters()]
    assert ours == [(r[2], r[3]) for r in _fixture()]


def test_torchvision_names_and_shapes_map_onto_ours():
    net = _randomised(MobileNetV3(MOBILENETV3_LARGE, num_classes=1000))
    tv, ours = _named(net, "torchvision"), net.state_dict()
    for tv_name, tv_shape, timm_name, _ in _fixture():  # same values: the rows pair up
        assert list(tv[tv_name].shape) == tv_shape
        assert torch.equal(tv[tv_name].flatten(), ours[timm_name].flatten())
    params = {r[0] for r in _fixture()}
    buffers = {k for k in tv if k not in params}  # BN statistics only
    assert all(
        k.rsplit(".", 1)[1] in {"running_mean", "running_var", "num_batches_tracked"}
        for k in buffers
    )


def _randomised(net):
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    return net


@pytest.mark.parametrize("naming", ["timm", "torchvision"])
def test_load_a_classifier_file_into_a_detection_backbone(tmp_path, naming):
    src = _randomised(MobileNetV3(MOBILENETV3_LARGE, num_classes=1000))
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in _named(src, naming).items()}},
        tmp_path / "w.pth",
    )
    dst = MobileNetV3(MOBILENETV3_LARGE)  # no head: conv_head and classifier are skipped
    dst.load_weights(tmp_path / "w.pth")
    for key, value in dst.state_dict().items():
        assert torch.equal(value, src.state_dict()[key]), key
    eps = {m.eps for m in dst.modules() if isinstance(m, nn.BatchNorm2d)}
    assert eps == ({1e-3} if naming == "torchvision" else {1e-5})  # torchvision trains with 1e-3


def test_torchvision_linear_head_becomes_the_conv_head(tmp_path):
    src = _randomised(MobileNetV3(MOBILENETV3_LARGE, num_classes=1000))
    state = _named(src, "torchvision")
    assert state["classifier.0.weight"].shape == (1280, 960)
    torch.save(state, tmp_path / "tv.pth")
    dst = MobileNetV3(MOBILENETV3_LARGE, num_classes=1000)
    dst.load_weights(tmp_path / "tv.pth", naming="torchvision")
    assert torch.equal(dst.conv_head.weight, src.conv_head.weight)  # (1280, 960, 1, 1)
    assert torch.equal(dst.classifier.weight, src.classifier.weight)


def test_tinydet_names_follow_the_official_code(tmp_path):
    # hustvl/TinyDet mmdet_extra/mobilenetv3_bc.py: blocks[0] = stem Sequential, blocks[1] =
    # BlockE1(3, 24, 24, 24), blocks[6] = Block(5, 36, 108, 60, SeModule(108), 2), blocks[18]
    # and [19] the extra stage; with_fc: conv2 (160 -> 960), linear3, linear4.
    full = MobileNetV3(MOBILENETV3_BC, num_classes=1000)
    names = {k: tuple(v.shape) for k, v in _named(full, "tinydet").items()}
    assert names["blocks.0.0.weight"] == (24, 3, 3, 3)
    assert names["blocks.1.conv2.weight"] == (24, 1, 3, 3) and "blocks.1.conv1.weight" not in names
    assert names["blocks.6.conv1.weight"] == (108, 36, 1, 1)
    assert names["blocks.6.se.se.1.weight"] == (27, 108, 1, 1)
    assert names["blocks.6.se.se.3.weight"] == (108, 27, 1, 1)
    assert names["blocks.17.conv3.weight"] == (160, 960, 1, 1)
    assert names["conv2.0.weight"] == (960, 160, 1, 1) and names["conv2.1.running_var"] == (960,)
    assert names["linear3.0.weight"] == (1280, 960) and names["linear4.weight"] == (1000, 1280)
    det = MobileNetV3(MOBILENETV3_BC, max_stride=64)
    assert _named(det, "tinydet")["blocks.19.conv2.weight"].shape == (960, 1, 5, 5)
    # An ImageNet file has no stride-64 blocks: they start random, as in TinyDet.
    src = _randomised(MobileNetV3(MOBILENETV3_D, num_classes=1000))
    torch.save(_named(src, "tinydet"), tmp_path / "d.pt")
    dst = MobileNetV3(MOBILENETV3_D, max_stride=64)
    dst.load_weights(tmp_path / "d.pt")
    assert torch.equal(dst.blocks[5][2].conv_pwl.weight, src.blocks[5][2].conv_pwl.weight)


def test_efficientnet_torchvision_names(tmp_path):
    # Published torchvision efficientnet_b2 parameter table (w 1.1, d 1.2): e.g.
    b2 = EfficientNet(EfficientNetScale.efficientnet(1.0, 1.1, 1.2), num_classes=1000)
    names = {k: tuple(v.shape) for k, v in _named(b2, "torchvision").items()}
    assert names["features.1.1.block.1.fc1.weight"] == (4, 16, 1, 1)
    assert names["features.2.0.block.2.fc1.weight"] == (4, 96, 1, 1)
    assert names["features.4.0.block.3.0.weight"] == (88, 288, 1, 1)
    assert names["features.5.3.block.2.fc1.weight"] == (30, 720, 1, 1)
    assert names["features.8.0.weight"] == (1408, 352, 1, 1)
    assert names["classifier.1.weight"] == (1000, 1408)
    src = _randomised(EfficientNet(TINYNETS["c"], num_classes=1000))
    torch.save(_named(src, "torchvision"), tmp_path / "c.pth")
    net = build_backbone(BackboneConfig("tinynet-c", weights=str(tmp_path / "c.pth")))
    assert torch.equal(net.blocks[6][0].conv_pwl.weight, src.blocks[6][0].conv_pwl.weight)


def test_efficientnet_timm_names():
    # Published timm efficientnet_b1 parameter table (w 1.0, d 1.1), e.g. a second DS block.
    b1 = EfficientNet(EfficientNetScale.efficientnet(1.0, 1.0, 1.1), num_classes=1000)
    shapes = {k: tuple(v.shape) for k, v in b1.named_parameters()}
    assert shapes["blocks.0.1.se.conv_reduce.weight"] == (4, 16, 1, 1)
    assert shapes["blocks.0.1.conv_pw.weight"] == (16, 16, 1, 1)
    assert shapes["blocks.5.1.se.conv_reduce.weight"] == (48, 1152, 1, 1)
    assert shapes["conv_head.weight"] == (1280, 320, 1, 1) and "bn2.weight" in shapes
    assert len(shapes) == 301  # layers listed in that table


def test_bad_files_are_input_errors(tmp_path):
    net = EfficientNet(TINYNETS["c"])
    with pytest.raises(InputError, match="cannot read"):
        net.load_weights(tmp_path / "missing.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="not a timm, torchvision or TinyDet"):
        net.load_weights(tmp_path / "other.pth")
    torch.save(EfficientNet(TINYNETS["a"]).state_dict(), tmp_path / "a.pth")  # deeper
    with pytest.raises(InputError, match=r"88 timm keys fit no layer, e\.g\. blocks\.3\.3\."):
        net.load_weights(tmp_path / "a.pth")
    wider = EfficientNet(EfficientNetScale.tinynet(0.825, 0.75, 0.85))  # C's depths
    torch.save(wider.state_dict(), tmp_path / "wide.pth")
    with pytest.raises(InputError, match=r"blocks\.0\.0\.conv_pw\.weight does not fit \(\(16,"):
        net.load_weights(tmp_path / "wide.pth")
    torch.save(EfficientNet(TINYNETS["c"], max_stride=16).state_dict(), tmp_path / "short.pth")
    with pytest.raises(InputError, match="no weights for"):
        net.load_weights(tmp_path / "short.pth")
    state = net.state_dict() | {"blocks.9.0.conv_pw.weight": torch.zeros(1)}
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(InputError, match="fit no layer"):
        net.load_weights(tmp_path / "extra.pth")
    with pytest.raises(ValueError, match="MobileNetV3 networks only"):
        key_map(net, "tinydet")


def test_naming_is_detected_from_the_stem():
    assert detect_naming(["conv_stem.weight"]) == "timm"
    assert detect_naming(["features.0.0.weight"]) == "torchvision"
    assert detect_naming(["blocks.0.0.weight"]) == "tinydet"
    assert detect_naming(["conv1.weight"]) is None
