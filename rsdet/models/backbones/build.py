"""Build a backbone by name: the recipe-facing table of backbones and their typed config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rsdet.config import ConfigError
from rsdet.models.backbones.base import Backbone
from rsdet.models.backbones.csp import CSPBackbone, CSPScale
from rsdet.models.backbones.resnet import ResNet

__all__ = ["BACKBONES", "Backbone", "BackboneConfig", "build_backbone"]

# name -> a CSP size (YOLOv8 width / depth multipliers, channels capped at 1024 as in YOLOv8)
# or a ResNet depth (torchvision key names, so ImageNet files load as they are).
BACKBONES: dict[str, CSPScale | int] = {
    "csp-n": CSPScale(depth=0.33, width=0.25, max_channels=1024),
    "csp-s": CSPScale(depth=0.33, width=0.50, max_channels=1024),
    "resnet18": 18,
    "resnet34": 34,
    "resnet50": 50,
    "resnet101": 101,
}


@dataclass(frozen=True)
class BackboneConfig:
    """Which backbone to build, for which input, starting from which weights.

    Attributes:
        name: a key of :data:`BACKBONES`.
        in_channels: image bands.
        max_stride: the coarsest output stride. CSP backbones stop at 8, 16 or 32; ResNets
            always end at 32.
        weights: a local state-dict file (torchvision key names) to start from, or None for
            a random initialisation. Nothing is ever downloaded.
        frozen_stages: ResNet stages kept fixed when starting from weights (1: stem and
            ``layer1``); a random backbone trains every stage.
        norm_eval: keep a ResNet's BatchNorm in eval mode when starting from weights.
    """

    name: str
    in_channels: int = 3
    max_stride: int = 32
    weights: str | None = None
    frozen_stages: int = 1
    norm_eval: bool = True


def build_backbone(config: BackboneConfig, load_weights: bool = True) -> Backbone:
    """Build the backbone ``config`` names.

    Args:
        config: the backbone.
        load_weights: read ``config.weights`` now. Model loading passes False: a checkpoint
            carries every weight, and the file named at training time need not exist there.

    Raises:
        ConfigError: unknown name, a stride the backbone cannot end at, or a weights file
            for a backbone that cannot load one.
        InputError: the weights file is unreadable or does not fit.
    """
    kind = BACKBONES.get(config.name)
    if kind is None:
        known = ", ".join(BACKBONES)
        raise ConfigError(f"backbone: unknown name {config.name!r} (known: {known})")
    if isinstance(kind, CSPScale):
        if config.weights is not None:
            raise ConfigError(f"backbone weights: {config.name} cannot load a weights file")
        widths, depths = kind.widths(), kind.depths()
        return CSPBackbone(config.in_channels, widths, depths, max_stride=config.max_stride)
    if config.max_stride != 32:
        raise ConfigError(f"backbone: {config.name} ends at stride 32, not {config.max_stride}")
    pretrained = config.weights is not None
    net = ResNet(
        kind,
        frozen_stages=config.frozen_stages if pretrained else 0,
        norm_eval=config.norm_eval if pretrained else False,
        in_channels=config.in_channels,
    )
    if config.weights is not None and load_weights:
        net.load_weights(Path(config.weights))
    return net
