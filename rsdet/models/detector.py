"""``Detector``: a trained network plus its :class:`~rsdet.models.spec.ModelSpec`, ready to run.

The network follows :mod:`rsdet.models.contract`. ``Detector`` adds what sits around it:
range scaling from the spec, standardisation, padding to ``size_divisor``, device placement,
the model's default :class:`~rsdet.models.spec.Postprocess`, and conversion to numpy.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rsdet.io.radiometry import scale_to_unit
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import ModelSpec, Postprocess
from rsdet.structures import Detections, HBoxes

__all__ = ["Detector", "Prediction", "resolve_device"]


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
        network: a :class:`~rsdet.models.contract.DetectorNetwork`.
        spec: its metadata (classes, input spec, post-processing defaults).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...

    Attributes:
        postprocess: the default post-processing, the spec's; every predict method takes
            another one as an argument.
    """

    def __init__(
        self, network: DetectorNetwork[Any], spec: ModelSpec, device: str | torch.device = "auto"
    ) -> None:
        self.device = resolve_device(device)
        self.network = network.eval().to(self.device)
        self.spec = spec
        self.postprocess = spec.postprocess()
        mean, std = spec.input.standardisation()
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device).reshape(-1, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=self.device).reshape(-1, 1, 1)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, indexed by label."""
        return self.spec.classes

    @property
    def oriented(self) -> bool:
        """True when the model predicts oriented boxes."""
        return self.spec.oriented

    @torch.inference_mode()
    def predict_batch(
        self,
        images: Tensor | np.ndarray,
        standardised: bool = False,
        postprocess: Postprocess | None = None,
    ) -> list[Detections]:
        """Detect on a batch of range-scaled images.

        Args:
            images: (B, C, H, W) float in [0, 1] (already range-scaled, see ModelSpec).
            standardised: the caller already applied ``(x - mean) / std`` of
                ``spec.input.standardisation()`` (e.g. in a reader thread, off the critical
                path); it is not done again.
            postprocess: thresholds; None uses :attr:`postprocess`.

        Returns:
            One :class:`Detections` per image, on the CPU, in that image's pixels.
        """
        x = torch.as_tensor(images).to(self.device, torch.float32)
        h, w = x.shape[-2:]
        if not standardised:
            x = (x - self._mean) / self._std
        d = self.network.size_divisor
        pad_h, pad_w = (-h) % d, (-w) % d
        if pad_h or pad_w:  # zero after standardising = the mean colour, the least surprising
            x = F.pad(x, (0, pad_w, 0, pad_h))
        results = self.network.detect(x, postprocess or self.postprocess)
        out = []
        for dets in results:
            dets = dets.to("cpu")
            if isinstance(dets.boxes, HBoxes):
                dets = Detections(dets.boxes.clip(h, w), dets.scores, dets.labels)
            out.append(dets)
        return out

    def predict(self, image: np.ndarray, postprocess: Postprocess | None = None) -> Prediction:
        """Detect on one image.

        Args:
            image: (H, W, C) raw pixel values in the model's band order (e.g. uint8 RGB).
                Fixed scaling uses the spec's range; a percentile model stretches this
                image by its own percentiles.
            postprocess: thresholds; None uses :attr:`postprocess`.

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
        dets = self.predict_batch(scaled[None], postprocess=postprocess)[0]
        boxes, scores, labels = dets.numpy()
        return Prediction(boxes, scores, labels)
