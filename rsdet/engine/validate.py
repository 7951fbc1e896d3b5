"""Validation during training: detect on held-out samples, score with the official protocol.

Images up to ``eval.max_size`` pixels are run whole (padded to the network's size
divisor); larger ones are cut into the model's inference tiles and merged back exactly as
scene inference does (:mod:`rsdet.tiling`, :mod:`rsdet.merge`), so the score reflects what
users will get.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from rsdet.datasets.pixels import ImageReader, open_image
from rsdet.engine.dataset import image_range
from rsdet.engine.recipe import EvalConfig
from rsdet.evaluation import EvalResult, evaluate
from rsdet.io.radiometry import scale_to_unit
from rsdet.merge import MergeConfig, merge_detections, tiles_to_scene
from rsdet.models.contract import DetectorNetwork
from rsdet.models.detector import Detector
from rsdet.models.spec import ModelSpec, Postprocess
from rsdet.structures import Detections, Sample
from rsdet.tiling import TilePlan, tile_grid

__all__ = ["detect_samples", "validate"]

Progress = Callable[[int, int], None]


def validate(
    network: DetectorNetwork[Any],
    spec: ModelSpec,
    samples: list[Sample],
    config: EvalConfig,
    device: torch.device,
    version: str = "1.0",
    on_progress: Progress | None = None,
) -> EvalResult:
    """Score ``network`` (left in eval mode) on ``samples`` with ``config.protocol``."""
    detections = detect_samples(network, spec, samples, config, device, on_progress)
    return evaluate(config.protocol, samples, detections, spec.classes, version=version)


def detect_samples(
    network: DetectorNetwork[Any],
    spec: ModelSpec,
    samples: list[Sample],
    config: EvalConfig,
    device: torch.device,
    on_progress: Progress | None = None,
) -> list[Detections]:
    """Detections per sample, in sample pixels, with the validation post-processing."""
    detector = Detector(network, spec, device=device)
    post = replace(detector.postprocess, score_thr=config.score_thr, max_det=config.max_det)
    merge = MergeConfig(iou_thr=spec.iou_thr)
    out = []
    for i, sample in enumerate(samples):
        with open_image(sample) as reader:
            out.append(_detect_one(detector, reader, config.max_size, post, merge))
        if on_progress is not None:
            on_progress(i + 1, len(samples))
    return out


def _unit(reader: ImageReader, spec: ModelSpec, low: np.ndarray, high: np.ndarray,
          top: int, left: int, height: int, width: int) -> np.ndarray:  # fmt: skip
    """(1, C, h, w) float32 in [0, 1] of one window, the model's bands."""
    raw = reader.read_region(top, left, height, width)[:, :, [b - 1 for b in spec.input.bands]]
    return scale_to_unit(np.moveaxis(raw, -1, 0), low, high)[None]


def _detect_one(
    detector: Detector, reader: ImageReader, max_size: int, post: Postprocess, merge: MergeConfig
) -> Detections:
    """Whole-image detection, or tiled detection merged in image pixels."""
    spec = detector.spec
    low, high = image_range(reader, spec.input)
    h, w = reader.height, reader.width
    if max(h, w) <= max_size:
        return detector.predict_batch(_unit(reader, spec, low, high, 0, 0, h, w), postprocess=post)[
            0
        ]
    plan = TilePlan.native(tile_grid(h, w, spec.tile_size, spec.overlap))
    parts, fragments = [], []
    for t, win in enumerate(plan.windows):
        x = _unit(reader, spec, low, high, win.row_off, win.col_off, win.height, win.width)
        tile_dets = detector.predict_batch(x, postprocess=post)
        shifted, flags = tiles_to_scene(tile_dets, [t], plan, (h, w), merge.edge_margin_px)
        parts += shifted
        fragments += flags
    merged = Detections.cat(parts)
    keep = merge_detections(merged, np.concatenate(fragments), merge)
    return merged[torch.from_numpy(keep)]
