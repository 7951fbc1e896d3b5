"""Validation during training: detect on held-out samples, score with the official protocol.

Images up to ``eval.max_size`` pixels are run whole (padded to the network's size
divisor); larger ones are cut into the model's inference tiles and merged back exactly as
scene inference does (:mod:`rsdet.tiling`, :mod:`rsdet.merge`), so the score reflects what
users will get.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from rsdet.datasets.pixels import ImageReader, open_image
from rsdet.datasets.sample import Sample
from rsdet.engine.dataset import image_range
from rsdet.engine.recipe import EvalConfig
from rsdet.evaluation import EvalResult, evaluate
from rsdet.merge import MergeConfig, edge_fragments, merge_detections, shift_to_scene
from rsdet.models.detector import Detector
from rsdet.models.spec import ModelSpec, scale_to_unit
from rsdet.structures import Detections
from rsdet.tiling import tile_grid

__all__ = ["detect_samples", "validate"]

Progress = Callable[[int, int], None]


def validate(
    module: nn.Module,
    spec: ModelSpec,
    samples: list[Sample],
    config: EvalConfig,
    device: torch.device,
    version: str = "1.0",
    on_progress: Progress | None = None,
) -> EvalResult:
    """Score ``module`` (left in eval mode) on ``samples`` with ``config.protocol``."""
    detections = detect_samples(module, spec, samples, config, device, on_progress)
    return evaluate(config.protocol, samples, detections, spec.classes, version=version)


def detect_samples(
    module: nn.Module,
    spec: ModelSpec,
    samples: list[Sample],
    config: EvalConfig,
    device: torch.device,
    on_progress: Progress | None = None,
) -> list[Detections]:
    """Detections per sample, in sample pixels, with the validation post-processing."""
    detector = Detector(module, spec, device=device)
    detector.set_postprocess(score_thr=config.score_thr, max_det=config.max_det)
    out = []
    for i, sample in enumerate(samples):
        with open_image(sample) as reader:
            out.append(_detect_one(detector, reader, config.max_size))
        if on_progress is not None:
            on_progress(i + 1, len(samples))
    return out


def _unit(reader: ImageReader, spec: ModelSpec, low: np.ndarray, high: np.ndarray,
          top: int, left: int, height: int, width: int) -> np.ndarray:  # fmt: skip
    """(1, C, h, w) float32 in [0, 1] of one window, the model's bands."""
    raw = reader.read_region(top, left, height, width)[:, :, [b - 1 for b in spec.input.bands]]
    return scale_to_unit(np.moveaxis(raw, -1, 0), low, high)[None]


def _detect_one(detector: Detector, reader: ImageReader, max_size: int) -> Detections:
    """Whole-image detection, or tiled detection merged in image pixels."""
    spec = detector.spec
    low, high = image_range(reader, spec.input)
    h, w = reader.height, reader.width
    if max(h, w) <= max_size:
        return detector.predict_batch(_unit(reader, spec, low, high, 0, 0, h, w))[0]
    parts, fragments = [], []
    for win in tile_grid(h, w, spec.tile_size, spec.overlap):
        x = _unit(reader, spec, low, high, win.row_off, win.col_off, win.height, win.width)
        dets = detector.predict_batch(x)[0]
        fragments.append(edge_fragments(dets.boxes, (win.height, win.width), win, (h, w), 2.0))
        parts.append(shift_to_scene(dets, win))
    merged = Detections.cat(parts)
    keep = merge_detections(merged, np.concatenate(fragments), MergeConfig(iou_thr=spec.iou_thr))
    return merged[torch.from_numpy(keep)]
