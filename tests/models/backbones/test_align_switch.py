"""The feature-alignment switch, from a backbone config and a TinyDet recipe value."""

from dataclasses import replace

import pytest
import torch

from rsdet.config import ConfigError, to_dict
from rsdet.models.backbones import BackboneConfig, build_backbone
from rsdet.models.tinydet import SIZES
from rsdet.models.zoo import build_network


def _aligned(module: torch.nn.Module) -> int:
    """How many blocks pool before their strided depthwise conv."""
    return sum(bool(getattr(m, "align", False)) for m in module.modules())


@pytest.mark.parametrize(
    ("name", "align", "expected"),
    [("mobilenetv3-bc", None, 4), ("mobilenetv3-bc", False, 0), ("mobilenetv3-large", True, 4),
     ("tinynet-e", None, 0), ("tinynet-e", True, 4)],
)  # fmt: skip
def test_backbone_config_switches_the_pool(name, align, expected):
    net = build_backbone(BackboneConfig(name, max_stride=32, align=align))
    assert _aligned(net) == expected


def test_alignment_moves_the_features():
    torch.manual_seed(0)
    on = build_backbone(BackboneConfig("mobilenetv3-d", align=True)).eval()
    off = build_backbone(BackboneConfig("mobilenetv3-d", align=False)).eval()
    off.load_state_dict(on.state_dict())  # same weights: the pool has none
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = on(x), off(x)
    assert [f.shape for f in a] == [f.shape for f in b]
    assert not torch.allclose(a[0], b[0])


def test_csp_and_resnet_have_no_switch():
    with pytest.raises(ConfigError, match="no feature-alignment switch"):
        BackboneConfig("csp-n", align=False)
    with pytest.raises(ConfigError, match="no feature-alignment switch"):
        BackboneConfig("resnet18", align=True)


def test_tinydet_recipe_value_reaches_the_backbone():
    cfg = replace(SIZES["s"], num_classes=2, backbone_align=False)
    net = build_network("tinydet", to_dict(cfg))  # as a checkpoint's arch_config rebuilds it
    assert _aligned(net) == 0
    assert _aligned(build_network("tinydet", to_dict(replace(cfg, backbone_align=None)))) > 0
