"""Synthetic scenes with planted objects, and detectors that report what they see.

A planted object is a rectangle of constant pixels: band ``class_band`` holds
``CLASS_BASE + CLASS_STEP * class_id``, band ``score_band`` holds ``round(255 * score)``.
Background pixels are ``BACKGROUND`` in every band. The detectors below find the planted
pixels in each tile image they receive, so a tile that cuts an object reports the cut part
(a truncated fragment), exactly like a real detector's view.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import torch
from affine import Affine
from scipy import ndimage

from rsdet.models.checkpoint import Checkpoint, write_checkpoint
from rsdet.models.contract import DetectorNetwork
from rsdet.models.spec import InputSpec, ModelSpec
from rsdet.structures import Detections, HBoxes, RBoxes

BACKGROUND = 10
CLASS_BASE, CLASS_STEP = 100, 40
CLASSES = ("car", "ship", "tank")


@dataclass
class Planted:
    """An axis-aligned object in scene pixels: rows [row, row + h), cols [col, col + w)."""

    row: int
    col: int
    h: int
    w: int
    class_id: int = 0
    score: float = 0.8


def plant(image: np.ndarray, obj: Planted, class_band: int = 0, score_band: int = 1, unit=1):
    sl = (slice(obj.row, obj.row + obj.h), slice(obj.col, obj.col + obj.w))
    image[class_band][sl] = (CLASS_BASE + CLASS_STEP * obj.class_id) * unit
    image[score_band][sl] = round(255 * obj.score) * unit


def write_scene(
    path,
    height,
    width,
    objects=(),
    *,
    count=3,
    dtype="uint8",
    crs="EPSG:32633",
    transform=None,
    nodata=None,
    nodata_boxes=(),
    unit=1,
    class_band=0,
    score_band=1,
    **profile,
):
    """Write a tiled GeoTIFF with planted objects; returns the pixel array (C, H, W)."""
    image = np.full((count, height, width), BACKGROUND * unit, dtype=dtype)
    for obj in objects:
        plant(image, obj, class_band, score_band, unit)
    for r0, r1, c0, c1 in nodata_boxes:
        image[:, r0:r1, c0:c1] = nodata
    if transform is None:
        transform = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_000_000.0)
    meta = dict(
        driver="GTiff",
        height=height,
        width=width,
        count=count,
        dtype=dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        tiled=True,
        blockxsize=16,
        blockysize=16,
    )
    meta.update(profile)
    if crs is None:
        meta.pop("crs")
    with rasterio.open(path, "w", **meta) as ds:
        ds.write(image)
    return image


def find_objects(image_chw, *, unit=1.0, class_band=0, score_band=1, oriented=False):
    """Boxes of the planted pixels in one image (C, H, W): (boxes, scores, labels) numpy."""
    code = image_chw[class_band].astype(np.float64) / unit
    fg = code >= CLASS_BASE - CLASS_STEP / 2
    comps, _ = ndimage.label(fg)
    boxes, scores, labels = [], [], []
    for k, sl in enumerate(ndimage.find_objects(comps), start=1):
        if sl is None:
            continue
        inside = comps[sl] == k
        class_id = round(float(np.median(code[sl][inside]) - CLASS_BASE) / CLASS_STEP)
        score = float(np.median(image_chw[score_band][sl][inside]) / unit / 255.0)
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        if oriented:
            boxes.append([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, 0.0])
        else:
            boxes.append([x0, y0, x1, y1])
        scores.append(score)
        labels.append(class_id)
    width = 5 if oriented else 4
    return (
        np.asarray(boxes, dtype=np.float64).reshape(-1, width),
        np.asarray(scores, dtype=np.float64),
        np.asarray(labels, dtype=np.int64),
    )


@dataclass
class PlantedDetector:
    """A ``predict(image (H, W, C))`` test double that reports the planted objects it sees.

    Attributes:
        fail_at: raise KeyboardInterrupt on this call (1-based), to simulate Ctrl-C.
        calls: the images it was given, as (H, W) shapes.
    """

    classes: tuple[str, ...] = CLASSES
    unit: float = 1.0
    oriented: bool = False
    fail_at: int | None = None
    calls: list[tuple[int, int]] = field(default_factory=list)

    def predict(self, image):
        self.calls.append(image.shape[:2])
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt
        chw = np.moveaxis(image, -1, 0)
        return find_objects(chw, unit=self.unit, oriented=self.oriented)


@dataclass
class CountingDetector(PlantedDetector):
    """A PlantedDetector that appends a line to the file ``log`` for every tile it sees
    (wherever it runs: a Dask worker process too)."""

    log: str = ""

    def predict(self, image):
        with open(self.log, "a") as f:
            f.write(f"{image.shape[0]} {image.shape[1]}\n")
        return super().predict(image)


@dataclass
class DyingDetector(PlantedDetector):
    """A PlantedDetector whose worker process dies (``os._exit``) at the first tile that shows
    an object of score ``die_at_score``, unless the file ``marker`` exists; it creates the
    file first, so only the first attempt of that task dies and its retry runs normally."""

    marker: str = ""
    die_at_score: float = 0.33

    def predict(self, image):
        boxes, scores, labels = super().predict(image)
        if np.any(np.abs(scores - round(255 * self.die_at_score) / 255) < 1e-9):
            if not os.path.exists(self.marker):
                Path(self.marker).touch()
                os._exit(1)
        return boxes, scores, labels


def write_mosaic(folder, grid, scene_hw, objects, *, crs="EPSG:32633", crs_of=None):
    """Cut a mosaic with planted objects into abutting scenes; returns their paths, row-major.

    Args:
        grid: ``(rows, cols)`` of scenes; scene ``(r, c)`` is ``s{r}{c}.tif``.
        scene_hw: ``(height, width)`` of every scene, pixels.
        objects: Planted objects in mosaic pixels; each scene gets the part it sees.
        crs_of: optional ``{(r, c): crs}`` for scenes in another CRS (same coordinates).
    """
    h, w = scene_hw
    paths = []
    for r in range(grid[0]):
        for c in range(grid[1]):
            parts = []
            for obj in objects:
                top, left = max(obj.row, r * h), max(obj.col, c * w)
                bottom, right = min(obj.row + obj.h, (r + 1) * h), min(obj.col + obj.w, (c + 1) * w)
                if bottom > top and right > left:
                    parts.append(
                        Planted(
                            top - r * h,
                            left - c * w,
                            bottom - top,
                            right - left,
                            obj.class_id,
                            obj.score,
                        )
                    )
            transform = Affine(0.5, 0.0, 500_000.0 + 0.5 * c * w, 0.0, -0.5, 4e6 - 0.5 * r * h)
            path = Path(folder) / f"s{r}{c}.tif"
            scene_crs = (crs_of or {}).get((r, c), crs)
            write_scene(path, h, w, parts, transform=transform, crs=scene_crs)
            paths.append(str(path))
    return paths


def write_corrupt_scene(path, height=64, width=64, x0=500_000.0):
    """A deflate GeoTIFF whose header reads fine but whose first pixel block does not decode."""
    transform = Affine(0.5, 0.0, x0, 0.0, -0.5, 4_000_000.0)
    objects = [Planted(4, 4, 6, 6)]
    write_scene(path, height, width, objects, transform=transform, compress="deflate")
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
    data = bytearray(Path(path).read_bytes())
    data[offset : offset + 8] = b"\xff" * 8
    Path(path).write_bytes(bytes(data))
    return path


@dataclass(frozen=True)
class PlantedConfig:
    high: float = 255.0
    unit: float = 1.0
    oriented: bool = False
    fail_at: int | None = None


class PlantedNet(DetectorNetwork):
    """The same double behind the rsdet network contract (standardised input).

    With mean 0 / std 1 and a fixed range ``[0, high]``, the network recovers raw values as
    ``x * high``; padding (zeros) decodes to 0, which is background. Its raw output is
    those raw values; :meth:`decode` finds the planted objects in them.
    """

    size_divisor = 32

    def __init__(self, config: PlantedConfig):
        super().__init__()
        self.high = config.high
        self.unit = config.unit
        self.oriented = config.oriented
        self.box_type = "rbox" if config.oriented else "hbox"
        self.fail_at = config.fail_at
        self.calls = 0

    def forward(self, images, targets=None):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise KeyboardInterrupt
        return images.double() * self.high

    def decode(self, raw, image_hw, postprocess):
        out = []
        for img in raw:
            boxes, scores, labels = find_objects(
                img.numpy(), unit=self.unit, oriented=self.oriented
            )
            typed = (
                RBoxes(torch.from_numpy(boxes))
                if self.oriented
                else HBoxes(torch.from_numpy(boxes))
            )
            dets = Detections(typed, torch.from_numpy(scores), torch.from_numpy(labels))
            out.append(dets[dets.scores >= postprocess.score_thr])
        return out


def build_planted(config: PlantedConfig, load_weights: bool = True) -> PlantedNet:
    return PlantedNet(config)


def planted_spec(
    *, tile_size=64, overlap=24, high=255.0, gsd_m=None, oriented=False, scaling="fixed"
):
    return ModelSpec(
        arch="planted",
        classes=CLASSES,
        box_type="rbox" if oriented else "hbox",
        input=InputSpec(
            bands=(1, 2, 3),
            scaling=scaling,
            low=(0.0,),
            high=(high,),
            percentiles=(0.0, 100.0),
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            gsd_m=gsd_m,
        ),
        tile_size=tile_size,
        overlap=overlap,
        score_thr=0.05,
        iou_thr=0.5,
    )


def write_planted_checkpoint(path, spec=None, **config):
    spec = spec or planted_spec()
    config.setdefault("high", spec.input.high[0])
    config.setdefault("oriented", spec.oriented)
    write_checkpoint(path, Checkpoint(spec=spec, arch_config=config, state_dict={}))
    return path


def register_planted(monkeypatch):
    from rsdet.models import zoo

    monkeypatch.setitem(
        zoo.ARCHITECTURES, "planted", lambda: zoo.Architecture(PlantedConfig, build_planted)
    )


def register_planted_here():
    """Register the ``planted`` architecture in this process (e.g. on Dask workers)."""
    from rsdet.models import zoo

    zoo.ARCHITECTURES["planted"] = lambda: zoo.Architecture(PlantedConfig, build_planted)
    return os.getpid()
