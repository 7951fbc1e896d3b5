"""An ONNX file the Deepness QGIS plugin runs as it is: its input, its output layout, its keys.

Deepness (PUTvision/qgis-plugin-deepness, ``src/deepness/processing/``) cuts a raster layer
into tiles of ``tile_size`` pixels at ``resolution`` cm per pixel, reads each tile in the
layer's own data type (``processing_utils.get_tile_image``), divides by 255, standardises
with ``standardization_mean`` / ``standardization_std``, runs the one-input graph and decodes
its one rank-3 output itself: score filter, class-agnostic NMS, boxes cut to whole pixels.
So rsdet exports, for a model whose :class:`~rsdet.models.spec.InputSpec` has a fixed range::

    input   (1, C, T, T) float32: raw pixel values / 255 (T = tile size, fixed)
    graph   x 255 -> (v - low) / (high - low), clipped to [0, 1] -> (u - mean) / std
            -> network -> network.dense_predictions (every prior, before any threshold)
    output  YOLO_Ultralytics      (1, 4 + K, N): cx cy w h, then K class scores
            YOLO_Ultralytics_obb  (1, 4 + K + 1, N): cx cy w h, K scores, then theta

in input pixels. The metadata asks the plugin for mean 0 and std 1, so the graph does all of
rsdet's scaling and plugin versions that do not standardise at all feed it the same numbers.
A percentile stretch, measured per scene, cannot be written this way and is refused.

Oriented boxes are rsdet's le90 (:mod:`rsdet.structures.rboxes`): theta in radians in
``[-pi/2, pi/2)``, ``w >= h``, ``w`` along the box's own x axis, x right and y down, positive
theta clockwise on screen, about ``(cx, cy)``. Ultralytics' ``xywhr`` rows have the same
meaning, and the plugin's corner formula (``BoundingBox``) turns them the same way.

Metadata (each value JSON text, as the plugin reads it with ``json.loads``):

======================  ================================  ==================================
key                     value                             from
======================  ================================  ==================================
model_type              ``"Detector"``
class_names             ``{"0": "Tree", ...}``            ``spec.classes``
resolution              cm per pixel                      ``spec.input.gsd_m`` (if set)
tile_size, tiles_size   T (the code reads the first,      ``--tile-size`` or
                        the docs name the second)         ``spec.tile_size``
tiles_overlap           percent of T                      ``spec.overlap``
standardization_mean    ``[0.0, ...]`` (C values)         the graph standardises
standardization_std     ``[1.0, ...]``
det_conf                score threshold                   ``spec.score_thr``
det_iou_thresh          NMS IoU                           ``spec.iou_thr``
det_remove_overlap      ``true``                          merge across tiles
det_type                see the output layout above       ``spec.box_type``
rsdet_output_columns    the output rows, in words
rsdet_angle_convention  the paragraph above, in short     oriented models
======================  ================================  ==================================
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rsdet.export.errors import ExportError
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import ModelSpec

__all__ = [
    "ANGLE_CONVENTION",
    "DeepnessGraph",
    "check_input",
    "check_network",
    "deepness_props",
    "to_layout",
]

ANGLE_CONVENTION = (
    "le90: theta in radians in [-pi/2, pi/2), w >= h, w along the box's own x axis; "
    "pixel frame x right, y down; positive theta turns clockwise on screen about (cx, cy) "
    "(the meaning of Ultralytics xywhr)"
)


def check_input(spec: ModelSpec) -> None:
    """Refuse a model whose pixel scaling Deepness' ``raw / 255`` input cannot carry.

    Raises:
        ExportError: the model stretches each scene by its own percentiles.
    """
    if spec.input.scaling != "fixed":
        lo, hi = spec.input.percentiles
        raise ExportError(
            f"--target deepness: the model stretches each scene between its {lo:g} and {hi:g} "
            "percentiles, which Deepness (raw / 255 per tile) cannot do; export without "
            "--target, or train with input.scaling: fixed"
        )


def check_network(network: DetectorNetwork[Any]) -> None:
    """Refuse a network without :meth:`~DetectorNetwork.dense_predictions`.

    Raises:
        ExportError: the network does not give every prior's box and scores.
    """
    if type(network).dense_predictions is DetectorNetwork.dense_predictions:
        raise ExportError(
            f"--target deepness: {type(network).__name__} gives no dense predictions (every "
            "prior's box and scores before NMS), which the plugin's output layout needs"
        )


class DeepnessGraph(nn.Module):
    """``raw / 255 (1, C, T, T) -> Deepness output`` (see the module docstring).

    Args:
        network: the deployed network.
        spec: its ModelSpec (fixed range scaling, see :func:`check_input`).
        tile_size: T, a multiple of ``network.size_divisor``.
    """

    gain: Tensor  # (1, C, 1, 1) buffers: raw / 255 -> (raw - low) / (high - low) ...
    shift: Tensor
    mean: Tensor  # ... -> standardised
    std: Tensor

    def __init__(self, network: DetectorNetwork[Any], spec: ModelSpec, tile_size: int) -> None:
        super().__init__()
        check_input(spec)
        check_network(network)
        self.network = network
        self.image_hw = (tile_size, tile_size)
        low, high = spec.input.fixed_range()
        span = np.where(high - low > 0, high - low, 1.0)  # as rsdet.io.radiometry.scale_to_unit
        mean, std = spec.input.standardisation()

        def per_channel(values: np.ndarray) -> Tensor:
            return torch.tensor(values, dtype=torch.float32).reshape(1, -1, 1, 1)

        self.register_buffer("gain", per_channel(255.0 / span))
        self.register_buffer("shift", per_channel(-low / span))
        self.register_buffer("mean", per_channel(mean))
        self.register_buffer("std", per_channel(std))

    def forward(self, pixels: Tensor) -> Tensor:
        """(1, C, T, T) raw values / 255 -> (1, 4 + K [+ 1], N) dense predictions."""
        unit = (pixels * self.gain + self.shift).clamp(0.0, 1.0)  # rsdet's range scaling
        images = (unit - self.mean) / self.std
        boxes, scores = self.network.dense_predictions(self.network(images), self.image_hw)
        return to_layout(boxes, scores)


def to_layout(boxes: Tensor, scores: Tensor) -> Tensor:
    """Ultralytics' layout of dense predictions.

    Args:
        boxes: (B, N, 4) ``x1 y1 x2 y2`` or (B, N, 5) le90 ``cx cy w h theta``, pixels.
        scores: (B, N, K) class scores.

    Returns:
        (B, 4 + K, N) ``cx cy w h`` and scores, or (B, 4 + K + 1, N) with theta last.
    """
    if boxes.shape[-1] == 5:
        rows = torch.cat([boxes[..., :4], scores, boxes[..., 4:]], dim=-1)  # (B, N, 4 + K + 1)
    else:
        x1, y1, x2, y2 = boxes.unbind(-1)
        centre_size = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        rows = torch.cat([torch.stack(centre_size, dim=-1), scores], dim=-1)  # (B, N, 4 + K)
    return rows.transpose(1, 2)  # (B, N, D) -> (B, D, N)


def deepness_props(spec: ModelSpec, tile_size: int) -> dict[str, str]:
    """The plugin's metadata keys for ``spec`` exported at ``tile_size`` (JSON values)."""
    channels = spec.input.num_channels
    scores = ", ".join(spec.classes) if len(spec.classes) <= 8 else f"{len(spec.classes)} classes"
    values: dict[str, Any] = {
        "model_type": "Detector",
        "class_names": {str(i): name for i, name in enumerate(spec.classes)},
        "tile_size": tile_size,
        "tiles_size": tile_size,
        "tiles_overlap": round(100 * spec.overlap / tile_size),
        "standardization_mean": [0.0] * channels,
        "standardization_std": [1.0] * channels,
        "det_conf": spec.score_thr,
        "det_iou_thresh": spec.iou_thr,
        "det_remove_overlap": True,
        "det_type": "YOLO_Ultralytics_obb" if spec.oriented else "YOLO_Ultralytics",
        "rsdet_output_columns": f"cx, cy, w, h (input pixels), scores of {scores}"
        + (", theta (radians)" if spec.oriented else ""),
    }
    if spec.input.gsd_m is not None:
        values["resolution"] = round(spec.input.gsd_m * 100, 6)  # metres -> cm per pixel
    if spec.oriented:
        values["rsdet_angle_convention"] = ANGLE_CONVENTION
    return {key: json.dumps(value) for key, value in values.items()}
