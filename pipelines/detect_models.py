"""Model adapters for scene detection: any model behind one batch-of-tiles interface.

:func:`load_runner` turns what the user passed as ``model`` into a :class:`ModelRunner`:

* a checkpoint path or packaged model name -> :func:`rsdet.load_model` -> :class:`Detector`
  (an ``.rsdz`` file of ``rsdet compress`` too: the checkpoint reader decodes it);
* an ``.onnx`` file written by ``rsdet export`` -> :class:`OnnxRunner`: ONNX Runtime runs the
  network, the architecture's own decode (rebuilt from the file's metadata, no weights in
  torch) turns its outputs into detections (:mod:`rsdet.export.runtime`);
* an rsdet :class:`Detector` -> :class:`DetectorRunner`: pixels are range-scaled as its
  ModelSpec says (fixed range, or a percentile stretch measured once per scene), batched
  into a (B, C, H, W) float tensor and sent through ``predict_batch``;
* any object with ``predict(image)`` -> :class:`PredictRunner`: each tile is handed over as
  an (H, W, C) array of raw values of the selected bands, in the scene's dtype, and the
  object returns ``(boxes, scores, labels)`` as numpy (boxes (N, 4) ``x1 y1 x2 y2`` or
  (N, 5) rsdet oriented boxes, in the tile's pixels). ``classes`` (a list, or a dict from
  label to name) is used when present.

``prepare`` and ``collate`` run in the reader thread, ``run`` in the main thread. A run's
thresholds reach ``run`` as a :class:`~rsdet.models.spec.Postprocess`: the model itself is
never changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdet.config import ConfigError
from rsdet.errors import InputError
from rsdet.export.runtime import OnnxModel, load_onnx
from rsdet.io.radiometry import (
    NodataFill,
    Radiometry,
    ScaleOverride,
    check_value_range,
    fill_nodata,
    percentile_radiometry,
)
from rsdet.io.raster import SceneInfo, open_dataset
from rsdet.models.detector import Detector
from rsdet.models.spec import InputSpec, ModelSpec, Postprocess
from rsdet.models.zoo import load_model, resolve_model_path
from rsdet.structures import Detections, HBoxes, RBoxes

__all__ = [
    "DetectorRunner",
    "ModelRunner",
    "OnnxRunner",
    "PredictRunner",
    "SpecRunner",
    "load_runner",
]


class ModelRunner(ABC):
    """A model behind the batch-of-tiles interface, with its defaults for a run.

    Attributes:
        classes: class names by label (may be empty).
        oriented: True for oriented-box models (known before the first tile for Detectors).
        tile_size, overlap, gsd_m: the model's defaults.
        postprocess: the model's default post-processing.
        identity: what identifies the model in a resume journal (plain data).
    """

    classes: tuple[str, ...] = ()
    oriented = False
    tile_size, overlap = 1024, 128
    postprocess = Postprocess(score_thr=0.0, iou_thr=0.5)
    gsd_m: float | None = None
    identity: Any = None

    def default_bands(self, count: int) -> tuple[int, ...]:
        """Bands to read when the user gives none."""
        return (1, 2, 3) if count >= 3 else tuple(range(1, count + 1))

    def check_band_count(self, bands: tuple[int, ...]) -> None:  # noqa: B027 (any count)
        """Raise :class:`InputError` unless the model can read this many bands."""

    def check_input(
        self, scene: SceneInfo, bands: tuple[int, ...], scale: ScaleOverride | None, check: bool
    ) -> None:
        """Raise :class:`InputError` when the scene's values do not suit the model.

        Args:
            scene, bands: a scene of the run and the bands the model reads from it.
            scale: the run's range scaling override (``--scale``), or None.
            check: compare a sample of the scene with the model's range (``check_value_range``).
        """
        if scale is not None:
            raise InputError("--scale: this model takes raw pixel values (it scales them itself)")

    def prepare(
        self,
        ds: Any,
        scene: SceneInfo,
        bands: tuple[int, ...],
        scale: ScaleOverride | None = None,
    ) -> Callable[..., Any]:
        """Per-scene function ``(raw (C, H, W), valid) -> model input`` (runs in the reader).

        ``scale``: the run's range scaling in place of the model's, or None.
        """
        return lambda raw, valid: np.ascontiguousarray(np.moveaxis(raw, 0, -1))

    def collate(self, images: list[Any]) -> Any:
        """Batch the prepared images (runs in the reader thread)."""
        return images

    @abstractmethod
    def run(self, batch: Any, postprocess: Postprocess) -> list[Detections]:
        """Detections per image, in that image's pixels, post-processed as asked."""


class SpecRunner(ModelRunner):
    """A model with an rsdet ModelSpec: its defaults, bands and range scaling come from it.

    Attributes:
        nodata_fill: what nodata pixels inside a tile become (``fill_nodata``; measured in
            docs/detect.md).
    """

    nodata_fill: NodataFill = "tile_mean"

    def __init__(self, spec: ModelSpec, identity: Any) -> None:
        self.spec, self.identity = spec, identity
        self.classes, self.oriented = spec.classes, spec.oriented
        self.tile_size, self.overlap, self.gsd_m = spec.tile_size, spec.overlap, spec.input.gsd_m
        self.postprocess = spec.postprocess()
        mean, std = spec.input.standardisation()
        self._mean, self._std = mean.astype(np.float32), std.astype(np.float32)

    def default_bands(self, count: int) -> tuple[int, ...]:
        """The bands in the model's InputSpec."""
        return self.spec.input.bands

    def check_band_count(self, bands: tuple[int, ...]) -> None:
        """The network's first layer takes as many channels as the spec has bands."""
        wanted = self.spec.input.num_channels
        if len(bands) != wanted:
            listed = ",".join(str(b) for b in bands)
            model = ",".join(str(b) for b in self.spec.input.bands)
            raise InputError(
                f"--bands {listed}: the model reads {wanted} bands, got {len(bands)} "
                f"(its own are {model}; give {wanted} band numbers)"
            )

    def input_spec(self, bands: tuple[int, ...], scale: ScaleOverride | None) -> InputSpec:
        """The model's InputSpec for ``bands``, with the run's range scaling if given."""
        spec = replace(self.spec.input, bands=bands)
        if scale is None:
            return spec
        try:
            return replace(
                spec,
                scaling=scale.scaling,
                low=scale.low,
                high=scale.high,
                percentiles=scale.percentiles,
            )
        except ConfigError:
            raise InputError(
                f"--scale: {len(scale.low)} LOW,HIGH pairs for {len(bands)} bands "
                "(give one pair for all bands or one per band)"
            ) from None

    def check_input(
        self, scene: SceneInfo, bands: tuple[int, ...], scale: ScaleOverride | None, check: bool
    ) -> None:
        """A scene refused when its values miss the model's fixed range (unless ``scale``)."""
        spec = self.input_spec(bands, scale)
        if check and scale is None and spec.scaling == "fixed":
            with open_dataset(scene.path) as ds:
                check_value_range(ds, scene, bands, *spec.fixed_range())

    def prepare(
        self,
        ds: Any,
        scene: SceneInfo,
        bands: tuple[int, ...],
        scale: ScaleOverride | None = None,
    ) -> Callable[..., Any]:
        """Range scaling as the spec (or ``scale``) says, then nodata filled (``nodata_fill``).

        A percentile stretch is measured here, once per scene.
        """
        spec = self.input_spec(bands, scale)
        if spec.scaling == "percentile":
            radiometry = percentile_radiometry(ds, scene, bands, spec.percentiles)
        else:
            radiometry = Radiometry(*spec.fixed_range())
        fill, mean = self.nodata_fill, self._mean

        def to_model(raw: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
            return fill_nodata(radiometry.to_unit(raw, valid), valid, fill, mean)

        return to_model


class DetectorRunner(SpecRunner):
    """An rsdet :class:`Detector`: scaled float batches through ``predict_batch``."""

    def __init__(self, detector: Detector, identity: Any) -> None:
        super().__init__(detector.spec, identity)
        self.detector = detector
        self.postprocess = detector.postprocess
        self._on_cpu = detector.device.type == "cpu"

    def collate(self, images: list[Any]) -> Any:
        """(B, C, H, W) float32 tensor; on the CPU channels-last and already standardised.

        oneDNN runs CPU convolutions about 20 % faster on channels-last (NHWC) input
        (measured with RS-TinyNet-n, benchmarks/bench_detect_sahi.py). Standardising here,
        in the reader thread, takes it off the model's thread. Other devices get the usual
        contiguous layout and standardise on the device.
        """
        if not self._on_cpu:
            return torch.from_numpy(np.stack(images))
        channels, height, width = images[0].shape
        nhwc = np.empty((len(images), height, width, channels), dtype=np.float32)
        for out, img in zip(nhwc, images, strict=True):
            out[...] = img.transpose(1, 2, 0)  # np.stack would keep each input's layout
        nhwc -= self._mean
        nhwc /= self._std
        return torch.from_numpy(nhwc).permute(0, 3, 1, 2)

    def run(self, batch: Any, postprocess: Postprocess) -> list[Detections]:
        """``predict_batch`` with the run's post-processing."""
        return self.detector.predict_batch(
            batch, standardised=self._on_cpu, postprocess=postprocess
        )


class OnnxRunner(SpecRunner):
    """An exported ONNX file (:class:`~rsdet.export.runtime.OnnxModel`) run by ONNX Runtime."""

    def __init__(self, model: OnnxModel, identity: Any) -> None:
        super().__init__(model.spec, identity)
        self.model = model

    def collate(self, images: list[Any]) -> Any:
        """(B, C, H, W) float32, standardised here in the reader thread (off the model's)."""
        batch = np.stack(images).astype(np.float32, copy=False)
        batch -= self._mean[:, None, None]
        batch /= self._std[:, None, None]
        return batch

    def run(self, batch: Any, postprocess: Postprocess) -> list[Detections]:
        """``predict_batch`` with the run's post-processing."""
        return self.model.predict_batch(batch, postprocess)


class PredictRunner(ModelRunner):
    """Any object with ``predict(image (H, W, C) raw values) -> (boxes, scores, labels)``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes = _class_names(getattr(model, "classes", None))
        self.identity = f"{type(model).__module__}.{type(model).__qualname__}"

    def run(self, batch: Any, postprocess: Postprocess) -> list[Detections]:
        """One ``predict`` call per tile; detections below ``postprocess.score_thr`` are dropped.

        The object does its own NMS: ``iou_thr`` applies only to the cross-tile merge.
        """
        thr = postprocess.score_thr
        return [_as_detections(self.model.predict(image), thr) for image in batch]


def _class_names(classes: Any) -> tuple[str, ...]:
    if isinstance(classes, Mapping):  # e.g. {0: "car", 1: "truck"}
        return tuple(str(classes.get(k, k)) for k in range(max(classes, default=-1) + 1))
    return tuple(str(c) for c in classes) if classes is not None else ()


def _as_detections(prediction: Any, score_thr: float) -> Detections:
    boxes, scores, labels = prediction
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float64))
    if b.numel() == 0:
        b = b.reshape(0, 4)
    if b.dim() != 2 or b.shape[1] not in (4, 5):
        raise ValueError(f"predict() returned boxes of shape {tuple(b.shape)}; need (N, 4|5)")
    kept = torch.as_tensor(np.asarray(scores, dtype=np.float64)).reshape(-1) >= score_thr
    typed: HBoxes | RBoxes = HBoxes(b) if b.shape[1] == 4 else RBoxes(b)
    dets = Detections(typed, torch.as_tensor(np.asarray(scores)), torch.as_tensor(labels))
    return dets[kept]


def _file_identity(path: Path) -> dict[str, Any]:
    """A model file as a resume journal records it: changed file, different run."""
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns}


def load_runner(model: Any, device: str = "auto") -> ModelRunner:
    """Wrap ``model`` (see the module docstring); ``device`` applies to paths and names.

    Raises:
        RsdetError: unknown model name or unreadable checkpoint, or no CUDA for ``cuda``.
        TypeError: ``model`` is none of the accepted kinds.
    """
    if isinstance(model, (str, Path)) and str(model).lower().endswith(".onnx"):
        path = Path(model)
        return OnnxRunner(load_onnx(path, device=device), _file_identity(path))
    if isinstance(model, (str, Path)):
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"--device {device}: no CUDA device is available")
        path = resolve_model_path(model)
        return DetectorRunner(load_model(path, device=device), _file_identity(path))
    if isinstance(model, Detector):
        return DetectorRunner(model, f"Detector:{model.spec.arch}")
    if not callable(getattr(model, "predict", None)):
        raise TypeError("model must be a path, a packaged model name, or have .predict(image)")
    return PredictRunner(model)
