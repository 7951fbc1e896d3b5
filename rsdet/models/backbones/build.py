"""Build a backbone by name: the recipe-facing table of backbones and their typed config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rsdet.config import ConfigError
from rsdet.models.backbones.base import Backbone
from rsdet.models.backbones.csp import CSPBackbone, CSPScale
from rsdet.models.backbones.efficientnet import (
    EFFICIENTNET_B0,
    TINYNETS,
    EfficientNet,
    EfficientNetScale,
)
from rsdet.models.backbones.mbconv import NetSpec
from rsdet.models.backbones.mobilenetv3 import (
    MOBILENETV3_BC,
    MOBILENETV3_D,
    MOBILENETV3_LARGE,
    MobileNetV3,
)
from rsdet.models.backbones.resnet import ResNet

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneConfig",
    "BackboneKind",
    "ResNetDepth",
    "build_backbone",
]


@dataclass(frozen=True)
class ResNetDepth:
    """A torchvision-named ResNet of this depth (18, 34, 50 or 101)."""

    depth: int


# What a name builds: a CSP size (YOLOv8 multipliers), a ResNet depth, a MobileNetV3 table
# (:class:`NetSpec`) or an EfficientNet (r, w, d) scale. See docs/backbones.md.
BackboneKind = CSPScale | ResNetDepth | NetSpec | EfficientNetScale

BACKBONES: dict[str, BackboneKind] = {
    "csp-n": CSPScale(depth=0.33, width=0.25, max_channels=1024),
    "csp-s": CSPScale(depth=0.33, width=0.50, max_channels=1024),
    "resnet18": ResNetDepth(18),
    "resnet34": ResNetDepth(34),
    "resnet50": ResNetDepth(50),
    "resnet101": ResNetDepth(101),
    "mobilenetv3-large": MOBILENETV3_LARGE,
    "mobilenetv3-bc": MOBILENETV3_BC,  # TinyDet-M / -L
    "mobilenetv3-d": MOBILENETV3_D,  # TinyDet-S
    "efficientnet-b0": EFFICIENTNET_B0,
    **{f"tinynet-{size}": scale for size, scale in TINYNETS.items()},
}


@dataclass(frozen=True)
class BackboneConfig:
    """Which backbone to build, for which input, starting from which weights.

    Attributes:
        name: a key of :data:`BACKBONES` (checked here: an unknown name is a ConfigError).
        in_channels: image bands.
        max_stride: the coarsest output stride. CSP, MobileNetV3 and EfficientNet backbones
            stop at 8, 16 or 32 (MobileNetV3-BC and -D also go on to 64); ResNets always end
            at 32.
        weights: a local state-dict file to start from, or None for a random initialisation.
            ResNets read torchvision key names; MobileNetV3 and EfficientNet / TinyNet read
            timm's, torchvision's or (BC, D) TinyDet's, detected from the keys. Nothing is
            ever downloaded.
        frozen_stages: ResNet stages kept fixed when starting from weights (1: stem and
            ``layer1``); a random backbone trains every stage.
        norm_eval: keep a ResNet's BatchNorm in eval mode when starting from weights.
        align: the feature-alignment pool of MobileNetV3 and EfficientNet / TinyNet
            backbones (TinyDet's trick, :mod:`~rsdet.models.backbones.mbconv`); None: the
            design's (on for MobileNetV3-BC and -D, off otherwise). CSP and ResNet have none.
    """

    name: str
    in_channels: int = 3
    max_stride: int = 32
    weights: str | None = None
    frozen_stages: int = 1
    norm_eval: bool = True
    align: bool | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKBONES:
            known = ", ".join(BACKBONES)
            raise ConfigError(f"backbone: unknown name {self.name!r} (known: {known})")
        if self.align is not None and isinstance(BACKBONES[self.name], CSPScale | ResNetDepth):
            raise ConfigError(f"backbone: {self.name} has no feature-alignment switch")


def build_backbone(config: BackboneConfig, load_weights: bool = True) -> Backbone:
    """Build the backbone ``config`` names.

    Args:
        config: the backbone.
        load_weights: read ``config.weights`` now. Model loading passes False: a checkpoint
            carries every weight, and the file named at training time need not exist there.

    Raises:
        ConfigError: a stride the backbone cannot end at, or a weights file for a backbone
            that cannot load one.
        InputError: the weights file is unreadable or does not fit.
    """
    kind = BACKBONES[config.name]
    if isinstance(kind, CSPScale):
        if config.weights is not None:
            raise ConfigError(f"backbone weights: {config.name} cannot load a weights file")
        widths, depths = kind.widths(), kind.depths()
        return CSPBackbone(config.in_channels, widths, depths, max_stride=config.max_stride)
    if isinstance(kind, ResNetDepth):
        return _resnet(kind, config, load_weights)
    return _mobile(kind, config, load_weights)


def _resnet(kind: ResNetDepth, config: BackboneConfig, load_weights: bool) -> ResNet:
    if config.max_stride != 32:
        raise ConfigError(f"backbone: {config.name} ends at stride 32, not {config.max_stride}")
    pretrained = config.weights is not None
    net = ResNet(
        kind.depth,
        frozen_stages=config.frozen_stages if pretrained else 0,
        norm_eval=config.norm_eval if pretrained else False,
        in_channels=config.in_channels,
    )
    if config.weights is not None and load_weights:
        net.load_weights(Path(config.weights))
    return net


def _mobile(
    kind: NetSpec | EfficientNetScale, config: BackboneConfig, load_weights: bool
) -> MobileNetV3 | EfficientNet:
    """A MobileNetV3 or EfficientNet / TinyNet, down to ``config.max_stride``."""
    strides = (8, 16, 32, 64) if isinstance(kind, NetSpec) and kind.extra else (8, 16, 32)
    if config.max_stride not in strides:
        allowed = ", ".join(map(str, strides))
        raise ConfigError(
            f"backbone: {config.name} ends at stride {allowed}, not {config.max_stride}"
        )
    net: MobileNetV3 | EfficientNet
    if isinstance(kind, NetSpec):
        net = MobileNetV3(kind, config.in_channels, config.max_stride, align=config.align)
    else:
        align = False if config.align is None else config.align
        net = EfficientNet(kind, config.in_channels, config.max_stride, align=align)
    if config.weights is not None and load_weights:
        net.load_weights(Path(config.weights))
    return net
