"""A tile classifier: which model, its input, its classes, and how it scores images.

Every model of :data:`MODELS` is trained and used through one type, :class:`TileClassifier`:
``scores(images)`` maps (N, S, S, 3) uint8 RGB tiles of any S to (N, C) class scores (rows
sum to 1), resizing to the model's input edge. Networks see pixels standardised with the
ImageNet mean and std, so local ImageNet weights (InceptionV3) fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from rsdet.classify.bovw import BoVW, BoVWConfig
from rsdet.classify.nets import InceptionV3, PixelMLP, TinyCNN, tinynet_classifier
from rsdet.errors import InputError
from rsdet.models.backbones import TINYNETS

__all__ = ["MODELS", "ClassifierConfig", "TileClassifier", "build_net", "default_size"]

MODELS = ("bovw", "mlp", "tinynet-cnn", "inception-v3", *(f"tinynet-{s}" for s in TINYNETS))
MEAN = (0.485, 0.456, 0.406)  # ImageNet, RGB, of [0, 1] pixels
STD = (0.229, 0.224, 0.225)


def default_size(model: str) -> int:
    """Default input edge, px.

    The report's 64 for its CNN, 299 for InceptionV3, TinyNet's own resolution (192 ... 106),
    32 for the pixel MLP, 128 for BoVW.
    """
    if model not in MODELS:
        raise InputError(f"model {model!r}: unknown (known: {', '.join(MODELS)})")
    if model.startswith("tinynet-"):
        return TINYNETS[model[-1]].resolution
    return {"bovw": 128, "mlp": 32, "tinynet-cnn": 64, "inception-v3": 299}[model]


@dataclass(frozen=True)
class ClassifierConfig:
    """What to build.

    Attributes:
        model: a name of :data:`MODELS`.
        size: input edge, px (images are resized to it).
        widths: TinyNet-CNN block widths (the report's best: 32, 64, 128, 256).
        depthwise: TinyNet-CNN with depthwise-separable blocks.
        hidden: MLP hidden widths.
        weights: InceptionV3 only: a local torchvision ImageNet state-dict file, or None.
        bovw: BoVW settings.
    """

    model: str
    size: int
    widths: tuple[int, ...] = (32, 64, 128, 256)
    depthwise: bool = False
    hidden: tuple[int, ...] = (512, 256)
    weights: str | None = None
    bovw: BoVWConfig = field(default_factory=BoVWConfig)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InputError(f"model {self.model!r}: unknown (known: {', '.join(MODELS)})")
        small = 75 if self.model == "inception-v3" else 16
        if self.size < small:
            raise InputError(f"model {self.model}: input size {self.size} px is below {small}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the classifier file stores it)."""
        out = {k: getattr(self, k) for k in ("model", "size", "depthwise", "weights")}
        out |= {"widths": list(self.widths), "hidden": list(self.hidden)}
        return out | {"bovw": dict(vars(self.bovw))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifierConfig:
        """Inverse of :meth:`to_dict`."""
        rest = {k: v for k, v in d.items() if k not in ("widths", "hidden", "bovw")}
        return cls(
            **rest,
            widths=tuple(d["widths"]),
            hidden=tuple(d["hidden"]),
            bovw=BoVWConfig(**d["bovw"]),
        )


def build_net(config: ClassifierConfig, num_classes: int) -> nn.Module:
    """The network of ``config`` (not BoVW), randomly initialised."""
    if config.model == "mlp":
        return PixelMLP(config.size, config.hidden, num_classes)
    if config.model == "tinynet-cnn":
        return TinyCNN(config.widths, config.depthwise, num_classes)
    if config.model == "inception-v3":
        return InceptionV3(num_classes)
    if config.model.startswith("tinynet-"):
        return tinynet_classifier(config.model[-1], num_classes)
    raise InputError(f"model {config.model!r} is not a network")


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float32, ImageNet-standardised."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    return (x - mean) / torch.tensor(STD).view(1, 3, 1, 1)


@dataclass
class TileClassifier:
    """A trained classifier: exactly one of ``net`` / ``bovw`` is set.

    Attributes:
        config: what it is.
        classes: class names, in score order.
        net: the network (eval mode), for every model but BoVW.
        bovw: the fitted BoVW model.
        meta: provenance (data spec, epochs, validation report...).
    """

    config: ClassifierConfig
    classes: tuple[str, ...]
    net: nn.Module | None = None
    bovw: BoVW | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def resize(self, images: np.ndarray) -> np.ndarray:
        """(N, h, w, 3) -> (N, size, size, 3) uint8 (area interpolation)."""
        s = self.config.size
        if images.shape[1:3] == (s, s):
            return images
        return np.stack([cv2.resize(im, (s, s), interpolation=cv2.INTER_AREA) for im in images])

    @torch.no_grad()
    def scores(self, images: np.ndarray, batch: int = 64) -> np.ndarray:
        """(N, h, w, 3) uint8 RGB -> (N, C) float64 class scores (softmax; rows sum to 1)."""
        images = self.resize(images)
        if self.bovw is not None:
            return self.bovw.scores(images)
        assert self.net is not None
        self.net.eval()
        with torch.no_grad():
            out = [
                torch.softmax(self.net(to_tensor(images[i : i + batch])), dim=1)
                for i in range(0, len(images), batch)
            ]
        return torch.cat(out).double().numpy() if out else np.zeros((0, len(self.classes)))
