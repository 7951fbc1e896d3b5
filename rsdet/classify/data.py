"""Classification data: labelled image tiles from class folders or from detection datasets.

Two sources, one type (:class:`TileSet`):

* ``folder:PATH`` -- one sub-folder per class holding images (the layout of UC Merced,
  NWPU-RESISC45, EuroSAT and the 8-scene set of the report); classes sorted by name.
* any detection spec (``dota:...``, ``geo:...``, ``synthetic:?...``) with three extra options:
  ``tile`` (edge, px, default 128), ``visible`` (minimum visible fraction of an object's box
  for the tile to count as holding it, default 0.5) and ``object`` (a class name, or ``any``,
  the default). Each image is cut into non-overlapping tiles labelled ``object`` / ``empty``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from rsdet.datasets import load_dataset, parse_spec, read_image
from rsdet.datasets.pixels import IMAGE_SUFFIXES
from rsdet.errors import InputError
from rsdet.structures import Sample

__all__ = ["DetectorMatch", "TileOptions", "TileSet", "load_tiles", "stratified_split", "to_rgb8"]

_TILE_KEYS = ("tile", "visible", "object")


@dataclass(frozen=True)
class TileSet:
    """Labelled images of one size.

    Attributes:
        images: (N, S, S, 3) uint8 RGB.
        labels: (N,) int64 indices into ``classes``.
        classes: class names.
        ids: (N,) where each image came from (file path, or ``image_id@x,y``).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> TileSet:
        """The images at ``index`` (an int array), same classes."""
        return TileSet(
            self.images[index], self.labels[index], self.classes, tuple(self.ids[i] for i in index)
        )


@dataclass(frozen=True)
class TileOptions:
    """How a detection dataset becomes tiles: edge (px), min visible box fraction, class."""

    tile: int = 128
    visible: float = 0.5
    object: str = "any"


@dataclass(frozen=True)
class DetectorMatch:
    """Tiles cut the way a detector will see them (``rsdet classify train --screen-for``).

    Attributes:
        classes: the detector's classes; a tile is ``object`` when it holds one of them.
        tile: the detector's tile edge, px (overrides the spec's ``tile=``).
        bands: 1-based image bands in the detector's channel order; the first three make
            the thumbnail, as ``rsdet detect --screen`` does.
    """

    classes: tuple[str, ...]
    tile: int
    bands: tuple[int, ...]


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """(H, W, C) any dtype -> (H, W, 3) uint8: first three bands (one band repeated).

    uint8 passes unchanged; other dtypes are stretched from their 2-98 % percentiles.
    """
    img = pixels[:, :, :3] if pixels.shape[2] >= 3 else np.repeat(pixels[:, :, :1], 3, axis=2)
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    lo, hi = np.percentile(img, (2, 98))
    scaled = (img.astype(np.float32) - lo) / max(float(hi - lo), 1e-6)
    out: np.ndarray = np.clip(scaled * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def load_tiles(spec: str, size: int, match: DetectorMatch | None = None) -> TileSet:
    """Load ``spec`` (``folder:PATH`` or a detection spec) as images resized to ``size``.

    With ``match``, a detection spec is cut at the detector's tile size, from its bands,
    and labelled ``object`` for the detector's classes (those the dataset shares).

    Raises:
        InputError: a missing folder, an empty class folder, a bad tile option.
        DatasetError / SpecError: from the detection dataset loader.
    """
    if spec.lower().startswith("folder:"):
        if match is not None:
            raise InputError(f"{spec}: --screen-for needs a detection spec, not folder:")
        return _from_folders(Path(spec.partition(":")[2]), size)
    parsed = parse_spec(spec)
    raw = {k: v for k, v in parsed.options.items() if k in _TILE_KEYS}
    rest = {k: v for k, v in parsed.options.items() if k not in _TILE_KEYS}
    opts = _tile_options(spec, raw)
    dataset = load_dataset(replace(parsed, options=rest))
    if match is None:
        wanted = _wanted_labels(spec, dataset.classes, opts.object)
    else:
        opts = replace(opts, tile=match.tile)
        wanted = _shared_labels(spec, dataset.classes, match.classes)
    bands = None if match is None else match.bands
    images: list[np.ndarray] = []
    labels: list[int] = []
    ids: list[str] = []
    for sample in dataset.samples:
        for x, y, tile, has in _cut(sample, opts, wanted, bands):
            images.append(_resize(tile, size))
            labels.append(int(has))
            ids.append(f"{sample.image_id}@{x},{y}")
    if not images:
        raise InputError(f"dataset {spec!r}: no image holds a whole {opts.tile} px tile")
    return TileSet(np.stack(images), np.asarray(labels, np.int64), ("empty", "object"), tuple(ids))


def _tile_options(spec: str, raw: dict[str, str]) -> TileOptions:
    try:
        opts = TileOptions(
            tile=int(raw.get("tile", 128)),
            visible=float(raw.get("visible", 0.5)),
            object=raw.get("object", "any"),
        )
    except ValueError as err:
        raise InputError(f"dataset {spec!r}: tile options: {err}") from None
    if opts.tile < 8 or not 0 < opts.visible <= 1:
        raise InputError(f"dataset {spec!r}: need tile >= 8 and 0 < visible <= 1")
    return opts


def _wanted_labels(spec: str, classes: tuple[str, ...], name: str) -> np.ndarray:
    if name == "any":
        return np.arange(len(classes))
    if name not in classes:
        raise InputError(f"dataset {spec!r}: object={name!r} is not a class ({list(classes)})")
    return np.asarray([classes.index(name)])


def _shared_labels(spec: str, classes: tuple[str, ...], detector: tuple[str, ...]) -> np.ndarray:
    wanted = {name.casefold() for name in detector}  # "Tree" (a model) is "tree" (data)
    shared = [i for i, name in enumerate(classes) if name.casefold() in wanted]
    if not shared:
        raise InputError(
            f"dataset {spec!r}: no class of the detector ({list(detector)}) is in the "
            f"data ({list(classes)})"
        )
    return np.asarray(shared)


def _cut(
    sample: Sample,
    opts: TileOptions,
    wanted: np.ndarray,
    bands: tuple[int, ...] | None = None,
) -> list[tuple[int, int, np.ndarray, bool]]:
    """Non-overlapping whole tiles ``(x, y, pixels, holds a wanted object)`` of one image.

    ``bands``: 1-based bands to take, in order (None: the image's first three).
    """
    pixels = read_image(sample)
    if bands is not None:
        if max(bands) > pixels.shape[2]:
            raise InputError(
                f"{sample.image_id}: has {pixels.shape[2]} bands; the detector reads {list(bands)}"
            )
        pixels = pixels[:, :, [b - 1 for b in bands[:3]]]
    # Matched to a detector: each tile stretched on its own, as its thumbnail in a run is.
    image = to_rgb8(pixels) if bands is None else pixels
    keep = np.isin(sample.labels, wanted)
    boxes = np.concatenate(
        [sample.polygons[keep].min(axis=1), sample.polygons[keep].max(axis=1)], axis=1
    )  # (M, 4) x0 y0 x1 y1, px
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9)
    t = opts.tile
    out = []
    for y in range(0, sample.height - t + 1, t):
        for x in range(0, sample.width - t + 1, t):
            w = np.clip(np.minimum(boxes[:, 2], x + t) - np.maximum(boxes[:, 0], x), 0, None)
            h = np.clip(np.minimum(boxes[:, 3], y + t) - np.maximum(boxes[:, 1], y), 0, None)
            has = bool(np.any(w * h / area >= opts.visible))
            pixels = image[y : y + t, x : x + t]
            out.append((x, y, pixels if bands is None else to_rgb8(pixels), has))
    return out


def _from_folders(root: Path, size: int) -> TileSet:
    if not root.is_dir():
        raise InputError(f"{root}: not a folder (folder:PATH needs one sub-folder per class)")
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    if len(classes) < 2:
        raise InputError(f"{root}: needs at least two class sub-folders, found {len(classes)}")
    images, labels, ids = [], [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{root / name}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        for path in files:
            images.append(_resize(to_rgb8(read_image(path)), size))
            labels.append(label)
            ids.append(str(path))
    return TileSet(np.stack(images), np.asarray(labels, np.int64), classes, tuple(ids))


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[:2] == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)``: ``fraction`` of each class held out (at least one).

    A class with a single image goes to train only.
    """
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = min(max(1, round(fraction * len(idx))), len(idx) - 1) if fraction > 0 else 0
        held.append(idx[:n])
        train.append(idx[n:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))
