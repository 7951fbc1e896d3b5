"""Backbones: images -> multi-scale feature maps, finest first, with their strides declared.

Every backbone is an ``nn.Module`` with two tuples of equal length, ``strides`` (pixels per
cell of each output map, doubling) and ``out_channels``, and ``forward(images)`` returning
one (B, out_channels[i], H / strides[i], W / strides[i]) map per level. Detectors read
these two tuples to size their necks, so any backbone fits any detector.

A recipe names a backbone (``csp-n``, ``resnet50`` ...) and :func:`build_backbone` builds it
from a typed :class:`BackboneConfig`; the table :data:`BACKBONES` lists the names.
"""

from rsdet.models.backbones.build import BACKBONES, Backbone, BackboneConfig, build_backbone
from rsdet.models.backbones.csp import CSPBackbone, CSPScale
from rsdet.models.backbones.resnet import ResNet

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneConfig",
    "CSPBackbone",
    "CSPScale",
    "ResNet",
    "build_backbone",
]
