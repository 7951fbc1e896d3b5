"""Patch windows, patch names ``{image_id}__{rate}__{left}___{top}`` and mapping back.

Patches are laid on the project's tile grid (:func:`rsdet.tiling.tile_grid`: step ``size -
gap``, last row and column pulled back to the image edge), with one DOTA_devkit difference:
every patch window is ``size x size``, so the window of an image smaller than a patch hangs
past the image and the splitter pads that part with zeros (:func:`patch_windows`).

The name is DOTA_devkit's (``P0706__1__824___0``: image ``P0706`` resized by rate 1, patch
whose top-left corner is at column 824, row 0 of the resized image). A patch-frame point
``p`` maps to the source image as ``(p + (left, top)) / rate``; detections from all
patches of an image can then be merged (e.g. with NMS) in the source frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rsdet.datasets.clip import WindowClipper
from rsdet.structures import TRUNCATED, Detections, HBoxes, RBoxes, Sample
from rsdet.tiling import Window, tile_grid

__all__ = [
    "PatchOrigin",
    "cut_patch",
    "format_rate",
    "parse_patch_name",
    "patch_name",
    "patch_windows",
]

_NAME = re.compile(r"^(?P<id>.+?)__(?P<rate>\d+(?:\.\d+)?)__(?P<left>\d+)___(?P<top>\d+)$")
_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".txt", ".xml", ".bmp")


def patch_windows(height: int, width: int, size: int, gap: int) -> list[Window]:
    """The ``size x size`` patch windows of a ``height x width`` image (pixels).

    The windows of :func:`rsdet.tiling.tile_grid` (same count, offsets and row-major
    order), each widened to ``size x size``: they differ only where the image is smaller
    than ``size`` along an axis, where the one window starts at 0 and extends past the
    image (DOTA_devkit pads that part with zeros).

    Args:
        height, width: image size in pixels (at least 1).
        size: patch edge in pixels (at least 1).
        gap: overlap of neighbouring patches in pixels, ``0 <= gap < size``.

    Raises:
        ValueError: a non-positive size or a gap outside ``[0, size)``.
    """
    return [Window(w.col_off, w.row_off, size, size) for w in tile_grid(height, width, size, gap)]


def format_rate(rate: float) -> str:
    """Rate as written in names: ``1``, ``0.5``, ``1.5`` (shortest decimal form)."""
    return f"{rate:g}"


def patch_name(image_id: str, rate: float, left: int, top: int) -> str:
    """``{image_id}__{rate}__{left}___{top}`` (offsets in pixels of the resized image)."""
    return f"{image_id}__{format_rate(rate)}__{left}___{top}"


@dataclass(frozen=True)
class PatchOrigin:
    """Where a patch comes from.

    Attributes:
        image_id: the source image's id.
        rate: resize factor applied to the source before cutting (0.5 = half resolution).
        left, top: patch offset in pixels of the resized source.
    """

    image_id: str
    rate: float
    left: int
    top: int

    @property
    def name(self) -> str:
        """The patch name."""
        return patch_name(self.image_id, self.rate, self.left, self.top)

    def points_to_source(self, points: np.ndarray) -> np.ndarray:
        """Map (..., 2) patch-frame points, or (N, 2K) flat polygons, to source pixels."""
        pts = np.asarray(points, np.float64)
        flat = pts.reshape(*pts.shape[:-1], -1, 2)
        mapped: np.ndarray = (flat + np.array([self.left, self.top])) / self.rate
        return mapped.reshape(pts.shape)

    def hboxes_to_source(self, boxes: HBoxes) -> HBoxes:
        """Patch-frame horizontal boxes in source-image pixels."""
        return boxes.translate(self.left, self.top).scale(1 / self.rate, 1 / self.rate)

    def rboxes_to_source(self, boxes: RBoxes) -> RBoxes:
        """Patch-frame oriented boxes in source-image pixels (angles unchanged)."""
        return boxes.translate(self.left, self.top).scale(1 / self.rate)

    def detections_to_source(self, dets: Detections) -> Detections:
        """Patch detections in source-image pixels (scores and labels unchanged)."""
        boxes = dets.boxes
        mapped = (
            self.rboxes_to_source(boxes)
            if isinstance(boxes, RBoxes)
            else self.hboxes_to_source(boxes)
        )
        return Detections(mapped, dets.scores, dets.labels)


def parse_patch_name(name: str) -> PatchOrigin:
    """Parse a patch name (a file name with a known image/label suffix is accepted too).

    Raises:
        ValueError: the name does not follow ``{id}__{rate}__{left}___{top}``.
    """
    stem = name.rsplit("/", 1)[-1]
    for suffix in _SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    match = _NAME.match(stem)
    if match is None or float(match["rate"]) <= 0:
        raise ValueError(f"{name!r} is not a patch name of the form ID__RATE__LEFT___TOP")
    return PatchOrigin(match["id"], float(match["rate"]), int(match["left"]), int(match["top"]))


def cut_patch(
    sample: Sample, clipper: WindowClipper, window: Window, rate: float, iof_thr: float
) -> Sample:
    """The objects of one patch, in patch pixels (no pixels are read).

    Args:
        sample: the source sample.
        clipper: built on ``sample.polygons * rate`` (the resized image's frame).
        window: the patch window in the resized image (see :func:`patch_windows`).
        rate: resize factor of the source.
        iof_thr: objects with less than this fraction of their area inside the window get
            difficulty TRUNCATED (2); the others keep theirs.

    Returns:
        A sample named after the patch, ``window.height x window.width`` pixels, whose
        ``meta`` holds ``source`` (the source sample), ``rate``, ``left`` and ``top``.
    """
    left, top = window.col_off, window.row_off
    clipped = clipper.clip(left, top, window.col_end, window.row_end)
    difficulty = sample.difficulty[clipped.index].copy()
    difficulty[clipped.inside < iof_thr] = TRUNCATED
    return Sample(
        image_id=patch_name(sample.image_id, rate, left, top),
        height=window.height,
        width=window.width,
        polygons=clipped.polygons - np.array([left, top], np.float64),
        labels=sample.labels[clipped.index],
        difficulty=difficulty,
        crowd=sample.crowd[clipped.index],
        meta={"source": sample, "rate": rate, "left": left, "top": top},
    )
