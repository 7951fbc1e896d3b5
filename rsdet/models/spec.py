"""What a model expects and produces: the metadata stored in every rsdet checkpoint.

``ModelSpec`` answers the questions a scene pipeline must ask before it reads a pixel:
which bands, how to scale their values to ``[0, 1]``, at which ground sampling distance
(GSD) the model was trained, what tile size suits it, which classes it knows and whether
its boxes are horizontal or oriented, and how its raw outputs are post-processed
(:class:`Postprocess`).

Pixel scaling happens in two steps, always in this order:

1. *range scaling* (data side): raw values -> float32 in ``[0, 1]``, either with a fixed
   per-band ``[low, high]`` range (e.g. 0-255 for 8-bit RGB, 0-10000 for Sentinel-2 L2A) or
   with a percentile stretch whose ``[low, high]`` the scene pipeline measures once per
   scene (never per tile, which would make neighbouring tiles disagree); see
   :mod:`rsdet.io.radiometry`;
2. *standardisation* (model side): ``(x - mean) / std``, done by
   :class:`~rsdet.models.detector.Detector` and by the training engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np

from rsdet.config import ConfigError

__all__ = ["BoxType", "InputSpec", "ModelDefaults", "ModelSpec", "Postprocess"]

BoxType = Literal["hbox", "rbox"]


@dataclass(frozen=True)
class Postprocess:
    """Per-image post-processing of a detector's raw outputs.

    Attributes:
        score_thr: drop detections below this confidence.
        iou_thr: class-aware NMS IoU threshold (exact rotated IoU for oriented boxes).
        max_det: keep at most this many detections per image, best first.
        pre_nms_top_k: candidates per feature level kept before NMS (speed bound).
    """

    score_thr: float = 0.3
    iou_thr: float = 0.5
    max_det: int = 1000
    pre_nms_top_k: int = 2000


@dataclass(frozen=True)
class InputSpec:
    """How a model wants its pixels (see the module docstring for the two scaling steps).

    Attributes:
        bands: 1-based raster band indices the model reads, in model-channel order.
        scaling: ``"fixed"`` uses ``low``/``high``; ``"percentile"`` stretches each band
            between the scene's ``percentiles`` (in percent).
        low, high: fixed range per band (one value applies to all bands).
        percentiles: lower and upper percentile for ``scaling="percentile"``.
        mean, std: per-channel standardisation applied after range scaling.
        gsd_m: ground sampling distance of the training data, metres per pixel (None: any).
    """

    bands: tuple[int, ...] = (1, 2, 3)
    scaling: Literal["fixed", "percentile"] = "fixed"
    low: tuple[float, ...] = (0.0,)
    high: tuple[float, ...] = (255.0,)
    percentiles: tuple[float, float] = (2.0, 98.0)
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    gsd_m: float | None = None

    def __post_init__(self) -> None:
        # Each per-band field holds one value for all bands or one value per band; anything
        # else (e.g. the 3-value RGB mean with a 4-band model) is a configuration mistake.
        c = len(self.bands)
        if c == 0:
            raise ConfigError("input.bands: at least one band is needed")
        for name in ("low", "high", "mean", "std"):
            n = len(getattr(self, name))
            if n not in (1, c):
                raise ConfigError(
                    f"input.{name}: {n} values for {c} bands (give 1 value or {c}; "
                    "mean and std default to the 3 RGB ImageNet values)"
                )
        if any(v <= 0 for v in self.std):
            raise ConfigError(f"input.std: values must be positive, got {list(self.std)}")

    @property
    def num_channels(self) -> int:
        """Number of input channels."""
        return len(self.bands)

    def _per_band(self, values: tuple[float, ...]) -> np.ndarray:
        return np.broadcast_to(np.asarray(values, np.float64), (self.num_channels,)).copy()

    def fixed_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-band ``(low, high)`` arrays of shape (C,) for fixed scaling."""
        return self._per_band(self.low), self._per_band(self.high)

    def standardisation(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-band ``(mean, std)`` arrays of shape (C,), applied after range scaling."""
        return self._per_band(self.mean), self._per_band(self.std)


@dataclass(frozen=True, kw_only=True)
class ModelDefaults:
    """What a model expects and how to run it, beyond its architecture and classes.

    A training recipe states these (``model:`` in the YAML) and the checkpoint stores them
    in its :class:`ModelSpec`; they are defined here once for both.

    Attributes:
        box_type: ``"hbox"`` (HBoxes) or ``"rbox"`` (RBoxes, see rsdet.structures.rboxes).
        input: pixel expectations.
        tile_size: recommended tile edge for scene inference, pixels at the model's GSD.
        overlap: recommended tile overlap, pixels (at least the largest expected object).
        score_thr, iou_thr, max_det, pre_nms_top_k: post-processing defaults (per tile),
            see :class:`~rsdet.models.contract.Postprocess`.
        description: one line for ``rsdet info`` and output metadata.
    """

    box_type: BoxType = "hbox"
    input: InputSpec = field(default_factory=InputSpec)
    tile_size: int = 1024
    overlap: int = 128
    score_thr: float = 0.3
    iou_thr: float = 0.5
    max_det: int = 1000
    pre_nms_top_k: int = 2000
    description: str = ""

    @property
    def oriented(self) -> bool:
        """True for oriented-box models."""
        return self.box_type == "rbox"

    def postprocess(self) -> Postprocess:
        """The default post-processing of this model."""
        return Postprocess(self.score_thr, self.iou_thr, self.max_det, self.pre_nms_top_k)


@dataclass(frozen=True, kw_only=True)
class ModelSpec(ModelDefaults):
    """Everything a user or a pipeline needs to run a model, stored in its checkpoint.

    Attributes:
        arch: architecture name, a key of ``rsdet.models.zoo.ARCHITECTURES``.
        classes: class names; label ``i`` means ``classes[i]``.

    The other fields are :class:`ModelDefaults`.
    """

    arch: str
    classes: tuple[str, ...]

    @classmethod
    def from_defaults(
        cls, defaults: ModelDefaults, arch: str, classes: tuple[str, ...]
    ) -> ModelSpec:
        """The spec of a model of ``arch`` over ``classes`` with ``defaults``."""
        shared = {f.name: getattr(defaults, f.name) for f in fields(ModelDefaults)}
        return cls(arch=arch, classes=classes, **shared)
