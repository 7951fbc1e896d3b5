"""DOTA v1.0 / v1.5 / v2.0: ``ROOT/images/*.png`` with ``ROOT/labelTxt/*.txt``.

Label file (one per image, same stem)::

    imagesource:GoogleEarth          <- optional header lines (absent in split patches)
    gsd:0.146343590398
    x1 y1 x2 y2 x3 y3 x4 y4 plane 0  <- 8 coordinates, class, optional difficult (0/1/2)

Rules:

* Header lines (``key:value``, a single token, before the first object) go to
  ``Sample.meta`` (``gsd`` as a float, or None when not a number, e.g. ``gsd:null``).
* Blank lines are skipped; an empty file means an image with zero objects.
* No ``labelTxt/`` folder at all: an unlabelled set such as the test split; samples have
  zero objects and ``Dataset.labelled`` is False.
* ``labelTxt/`` present: every image needs its label file and every label file its image,
  otherwise the reader stops with an error naming the file (a missing file is not read as
  "no objects": that would teach a detector that the objects are background).
* ``labelTxt/`` without ``images/`` (or ``PATH`` naming the ``labelTxt`` folder itself): the
  ground-truth-only layout the official evaluation uses. Samples have no pixels
  (``image_path`` None, ``height`` and ``width`` 0, i.e. unknown); evaluation needs no more,
  training refuses them.
* Images are matched by stem, any image suffix (``.png`` in the official data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rsdet.datasets.classes import DOTA_CLASSES, ClassLookup
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.errors import DatasetError, LabelError, where
from rsdet.datasets.files import index_images
from rsdet.datasets.pixels import image_size
from rsdet.structures import Sample

__all__ = ["format_dota_labels", "parse_dota_labels", "read_dota"]

_FORMATS = {"1.0": "dota", "1.5": "dota1.5", "2.0": "dota2"}
_SHAPE_HELP = "expected 8 coordinates, a class name and an optional difficult flag"


def _header_value(key: str, value: str) -> object:
    if key != "gsd":
        return value
    try:
        gsd = float(value)
    except ValueError:
        return None
    return gsd if math.isfinite(gsd) else None


def _parse_object(
    tokens: list[str], line: str, path: Path, lineno: int, lookup: ClassLookup
) -> tuple[list[float], int, int]:
    """One object line -> (8 coordinates, label, difficulty)."""
    if len(tokens) not in (9, 10):
        raise LabelError(f"{where(path, lineno)}: {_SHAPE_HELP}, got {line.strip()!r}")
    try:
        coords = [float(t) for t in tokens[:8]]
    except ValueError:
        raise LabelError(
            f"{where(path, lineno)}: {_SHAPE_HELP}; the first 8 tokens must be numbers, "
            f"got {line.strip()!r}"
        ) from None
    if not all(math.isfinite(c) for c in coords):
        raise LabelError(f"{where(path, lineno)}: coordinates must be finite, got {line.strip()!r}")
    label = lookup.index(tokens[8], path, lineno)
    difficulty = 0
    if len(tokens) == 10:
        if tokens[9] not in ("0", "1", "2"):
            raise LabelError(
                f"{where(path, lineno)}: difficult flag must be 0, 1 or 2, got {tokens[9]!r}"
            )
        difficulty = int(tokens[9])
    return coords, label, difficulty


def parse_dota_labels(
    path: Path, lookup: ClassLookup
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, object]]:
    """Parse one DOTA label file.

    Returns:
        ``polygons`` (N, 4, 2) float64 pixels in the file's vertex order, ``labels`` (N,)
        int64, ``difficulty`` (N,) int8 and the header values as a dict.

    Raises:
        LabelError: a malformed line or an unknown class, naming ``path:line``.
    """
    coords: list[list[float]] = []
    labels: list[int] = []
    difficulty: list[int] = []
    header: dict[str, object] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if not coords and len(tokens) == 1 and ":" in tokens[0]:
            key, _, value = tokens[0].partition(":")
            header[key.lower()] = _header_value(key.lower(), value)
            continue
        c, label, diff = _parse_object(tokens, line, path, lineno, lookup)
        coords.append(c)
        labels.append(label)
        difficulty.append(diff)
    polygons = np.asarray(coords, dtype=np.float64).reshape(-1, 4, 2)
    return polygons, np.asarray(labels, np.int64), np.asarray(difficulty, np.int8), header


def _number(value: float) -> str:
    """Shortest fixed-point text of ``value`` rounded to 0.01 px (``12``, ``12.5``)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_dota_labels(
    polygons: np.ndarray,
    labels: np.ndarray,
    difficulty: np.ndarray,
    classes: Sequence[str],
    header: dict[str, object] | None = None,
) -> str:
    """Text of a DOTA label file (coordinates rounded to 0.01 px; header lines optional).

    Args:
        polygons: (N, 4, 2) vertices in pixels of the image the file describes.
        labels: (N,) indices into ``classes``.
        difficulty: (N,) 0, 1 or 2.
        classes: class names.
        header: e.g. ``{"imagesource": "GoogleEarth", "gsd": 0.15}``; None for patch files.
    """
    lines = [f"{k}:{'null' if v is None else v}" for k, v in (header or {}).items()]
    for poly, label, diff in zip(polygons.reshape(-1, 8), labels, difficulty, strict=True):
        coords = " ".join(_number(float(v)) for v in poly)
        lines.append(f"{coords} {classes[int(label)]} {int(diff)}")
    return "".join(f"{line}\n" for line in lines)


def _label_files(labels_dir: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(labels_dir.glob("*.txt"))}


def _pair_files(root: Path) -> tuple[dict[str, Path], dict[str, Path] | None]:
    """Images by stem, and label files by stem (None when there is no labelTxt folder)."""
    images_dir, labels_dir = root / "images", root / "labelTxt"
    if not images_dir.is_dir():
        raise DatasetError(
            f"{images_dir}: folder not found (DOTA layout: ROOT/images, ROOT/labelTxt)"
        )
    images = index_images(images_dir)
    if not images:
        raise DatasetError(f"{images_dir}: no images found")
    if not labels_dir.is_dir():
        return images, None
    labels = _label_files(labels_dir)
    for stem, path in labels.items():
        if stem not in images:
            raise DatasetError(f"{path}: no image {stem}.* in {images_dir}")
    for stem, path in images.items():
        if stem not in labels:
            raise DatasetError(
                f"{path}: no label file {labels_dir / (stem + '.txt')} (an empty file means no "
                "objects; without a labelTxt folder the set is read as unlabelled)"
            )
    return images, labels


def _labels_only_dir(root: Path) -> Path | None:
    """The label folder of a ground-truth-only layout, or None for the full layout."""
    if root.name == "labelTxt" and root.is_dir():
        return root
    if not (root / "images").exists() and (root / "labelTxt").is_dir():
        return root / "labelTxt"
    return None


def _read_labels_only(root: Path, labels_dir: Path, version: str) -> Dataset:
    classes = DOTA_CLASSES[version]
    lookup = ClassLookup(classes)
    files = _label_files(labels_dir)
    if not files:
        raise DatasetError(f"{labels_dir}: no label files (*.txt)")
    samples = []
    for stem, path in files.items():
        polygons, label_ids, difficulty, meta = parse_dota_labels(path, lookup)
        samples.append(Sample(stem, 0, 0, polygons, label_ids, difficulty, meta=meta))
    return Dataset(
        format=_FORMATS[version],
        version=version,
        classes=classes,
        box_type="rbox",
        root=root,
        samples=samples,
    )


def read_dota(root: Path, version: str) -> Dataset:
    """Load a DOTA tree (``version`` is ``"1.0"``, ``"1.5"`` or ``"2.0"``)."""
    labels_only = _labels_only_dir(root)
    if labels_only is not None:
        return _read_labels_only(root, labels_only, version)
    classes = DOTA_CLASSES[version]
    lookup = ClassLookup(classes)
    images, labels = _pair_files(root)
    samples = []
    for stem, image_path in images.items():
        height, width = image_size(image_path)
        meta: dict[str, object] = {}
        polygons, label_ids, difficulty = np.zeros((0, 4, 2)), np.zeros(0), np.zeros(0, np.int8)
        if labels is not None:
            polygons, label_ids, difficulty, meta = parse_dota_labels(labels[stem], lookup)
        samples.append(
            Sample(
                stem,
                height,
                width,
                polygons,
                label_ids,
                difficulty,
                image_path=image_path,
                meta=meta,
            )
        )
    return Dataset(
        format=_FORMATS[version],
        version=version,
        classes=classes,
        box_type="rbox",
        root=root,
        samples=samples,
        labelled=labels is not None,
    )
