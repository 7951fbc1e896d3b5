"""``Detector``: a trained network plus its :class:`~rsdet.models.spec.ModelSpec`, ready to run.

The network contract (every rsdet detector module follows it):

* ``module(images)`` with ``images`` a (B, C, H, W) float tensor, already standardised,
  H and W multiples of ``module.size_divisor``, returns ``list[Detections]`` (one per image,
  boxes in that image's pixels, after NMS) when the module is in eval mode;
* ``module(images, targets)`` in train mode returns ``dict[str, Tensor]`` of losses whose
  sum is minimised;
* ``module.postprocess`` is a :class:`Postprocess` read at inference time.

``Detector`` adds what sits around the network: range scaling from the spec, standardisation,
padding to ``size_divisor``, device placement and conversion to numpy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsdet.models.spec import ModelSpec, scale_to_unit
from rsdet.structures import Detections, HBoxes

__all__ = ["Detector", "Postprocess", "Prediction", "resolve_device"]


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


class Prediction(NamedTuple):
    """Numpy output of :meth:`Detector.predict`: unpacks as ``boxes, scores, labels``.

    ``boxes`` is (N, 4) ``x1 y1 x2 y2`` or (N, 5) ``cx cy w h theta`` (rsdet's angle
    convention) in pixels of the input image; ``scores`` (N,) float; ``labels`` (N,) int.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to torch."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Detector:
    """Inference wrapper around a detector network.

    Args:
        module: a network following the contract in the module docstring.
        spec: its metadata (classes, input spec, post-processing defaults).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    """

    def __init__(
        self, module: nn.Module, spec: ModelSpec, device: str | torch.device = "auto"
    ) -> None:
        self.device = resolve_device(device)
        self.module = module.eval().to(self.device)
        self.spec = spec
        mean, std = spec.input.standardisation()
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device).reshape(-1, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=self.device).reshape(-1, 1, 1)
        self.set_postprocess(score_thr=spec.score_thr, iou_thr=spec.iou_thr, max_det=spec.max_det)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, indexed by label."""
        return self.spec.classes

    @property
    def oriented(self) -> bool:
        """True when the model predicts oriented boxes."""
        return self.spec.oriented

    @property
    def size_divisor(self) -> int:
        """Input height and width are padded up to a multiple of this."""
        return int(getattr(self.module, "size_divisor", 32))

    def set_postprocess(self, **changes: float | int) -> None:
        """Change post-processing thresholds, e.g. ``set_postprocess(score_thr=0.1)``."""
        current = getattr(self.module, "postprocess", Postprocess())
        setattr(self.module, "postprocess", dataclasses.replace(current, **changes))  # noqa: B010

    @torch.inference_mode()
    def predict_batch(
        self, images: Tensor | np.ndarray, standardised: bool = False
    ) -> list[Detections]:
        """Detect on a batch of range-scaled images.

        Args:
            images: (B, C, H, W) float in [0, 1] (already range-scaled, see ModelSpec).
            standardised: the caller already applied ``(x - mean) / std`` of
                ``spec.input.standardisation()`` (e.g. in a reader thread, off the critical
                path); it is not done again.

        Returns:
            One :class:`Detections` per image, on the CPU, in that image's pixels.
        """
        x = torch.as_tensor(images).to(self.device, torch.float32)
        h, w = x.shape[-2:]
        if not standardised:
            x = (x - self._mean) / self._std
        d = self.size_divisor
        pad_h, pad_w = (-h) % d, (-w) % d
        if pad_h or pad_w:  # zero after standardising = the mean colour, the least surprising
            x = F.pad(x, (0, pad_w, 0, pad_h))
        results: list[Detections] = self.module(x)
        out = []
        for dets in results:
            dets = dets.to("cpu")
            if isinstance(dets.boxes, HBoxes):
                dets = Detections(dets.boxes.clip(h, w), dets.scores, dets.labels)
            out.append(dets)
        return out

    def predict(self, image: np.ndarray) -> Prediction:
        """Detect on one image.

        Args:
            image: (H, W, C) raw pixel values in the model's band order (e.g. uint8 RGB).
                Fixed scaling uses the spec's range; a percentile model stretches this
                image by its own percentiles.

        Returns:
            A :class:`Prediction` of numpy arrays in the image's pixel frame.
        """
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[2] != self.spec.input.num_channels:
            raise ValueError(
                f"expected an (H, W, {self.spec.input.num_channels}) image, got shape {image.shape}"
            )
        chw = np.moveaxis(image, -1, 0)
        if self.spec.input.scaling == "percentile":
            lo, hi = self.spec.input.percentiles
            flat = chw.reshape(chw.shape[0], -1).astype(np.float64)
            low, high = np.nanpercentile(flat, lo, axis=1), np.nanpercentile(flat, hi, axis=1)
        else:
            low, high = self.spec.input.fixed_range()
        scaled = scale_to_unit(chw, low, high)
        dets = self.predict_batch(scaled[None])[0]
        boxes, scores, labels = dets.numpy()
        return Prediction(boxes, scores, labels)
