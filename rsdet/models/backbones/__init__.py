"""Backbones: images -> multi-scale feature maps, finest first, with their strides declared.

Every backbone is an ``nn.Module`` with two tuples of equal length, ``strides`` (pixels per
cell of each output map, doubling) and ``out_channels``, and ``forward(images)`` returning
one (B, out_channels[i], H / strides[i], W / strides[i]) map per level. Detectors read
these two tuples to size their necks, so any backbone fits any detector.

A recipe names a backbone (``csp-n``, ``resnet50``, ``mobilenetv3-bc``, ``tinynet-c`` ...)
and :func:`build_backbone` builds it from a typed :class:`BackboneConfig`; the table
:data:`BACKBONES` lists the names (docs/backbones.md describes the families).
"""

from rsdet.models.backbones.build import (
    BACKBONES,
    Backbone,
    BackboneConfig,
    BackboneKind,
    ResNetDepth,
    build_backbone,
)
from rsdet.models.backbones.csp import CSPBackbone, CSPScale
from rsdet.models.backbones.efficientnet import (
    EFFICIENTNET_B0,
    TINYNETS,
    EfficientNet,
    EfficientNetScale,
)
from rsdet.models.backbones.mbconv import Classifier, NetSpec
from rsdet.models.backbones.mobilenetv3 import (
    MOBILENETV3_BC,
    MOBILENETV3_D,
    MOBILENETV3_LARGE,
    MobileNetV3,
)
from rsdet.models.backbones.resnet import ResNet

__all__ = [
    "BACKBONES",
    "EFFICIENTNET_B0",
    "MOBILENETV3_BC",
    "MOBILENETV3_D",
    "MOBILENETV3_LARGE",
    "TINYNETS",
    "Backbone",
    "BackboneConfig",
    "BackboneKind",
    "CSPBackbone",
    "CSPScale",
    "Classifier",
    "EfficientNet",
    "EfficientNetScale",
    "MobileNetV3",
    "NetSpec",
    "ResNet",
    "ResNetDepth",
    "build_backbone",
]
