"""Read COCO ground-truth json and COCO results json into :mod:`coco_data` arrays.

Ground truth is a COCO ``instances`` file (``images``, ``annotations``, ``categories``);
the size bin of an object comes from its ``area`` field, as pycocotools does. Results are
a list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.

Where pycocotools silently drops or crashes, these readers stop with one line naming the
file and the offending entry: an annotation or detection on an image that is not in
``images`` (pycocotools asserts), or with a category that is not in ``categories``
(pycocotools silently drops it, which hides 0-based category ids).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsdet.errors import InputError
from rsdet.evaluation.coco_data import CocoDetections, CocoGroundTruth

__all__ = ["CocoFormatError", "CocoGroundTruthFile", "read_coco_gt", "read_coco_results"]

Id = int | str


class CocoFormatError(InputError):
    """A COCO json file is unreadable or does not follow the format."""


@dataclass(frozen=True)
class CocoGroundTruthFile:
    """Ground truth read from a COCO json, with the id maps results need.

    Attributes:
        path: the file.
        gt: the arrays.
        image_index: COCO image id -> image index in ``gt``.
        class_index: COCO category id -> class index in ``gt``.
    """

    path: Path
    gt: CocoGroundTruth
    image_index: dict[Id, int]
    class_index: dict[Id, int]


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CocoFormatError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CocoFormatError(f"{path}: cannot read ({err})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CocoFormatError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None


def _is_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_entry(path: Path, where: str, entry: Any, fields: tuple[str, ...]) -> None:
    """Raise a one-line error for the first problem of one annotation / detection."""
    if not isinstance(entry, dict):
        raise CocoFormatError(f"{path}: {where}: expected an object, got {type(entry).__name__}")
    for key in fields:
        if key not in entry:
            raise CocoFormatError(f"{path}: {where}: missing {key!r}")
    for key in ("image_id", "category_id"):
        if not _is_id(entry[key]):
            raise CocoFormatError(f"{path}: {where}: {key} must be an integer or a string")
    bbox = entry["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        raise CocoFormatError(f"{path}: {where}: bbox must be 4 finite numbers, got {bbox!r}")
    for key in ("area", "score"):
        if key in fields and not _is_number(entry[key]):
            raise CocoFormatError(f"{path}: {where}: {key} must be a finite number")
    if entry.get("iscrowd", 0) not in (0, 1):
        raise CocoFormatError(f"{path}: {where}: iscrowd must be 0 or 1")


def _index_of(values: list[Any], path: Path, what: str) -> dict[Id, int]:
    """Sorted-id -> position map (pycocotools evaluates ids in sorted order)."""
    if any(not _is_id(v) for v in values):
        raise CocoFormatError(f"{path}: every {what} id must be an integer or a string")
    if len(set(values)) != len(values):
        raise CocoFormatError(f"{path}: duplicate {what} ids")
    if len({type(v) for v in values}) > 1:
        raise CocoFormatError(f"{path}: {what} ids mix integers and strings")
    return {v: i for i, v in enumerate(sorted(values))}


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return names if len(seen) == len(names) else [f"{n}#{i}" for i, n in enumerate(names)]


def _lookup(
    path: Path, where: str, entry: dict[str, Any], key: str, index: dict[Id, int], src: str
) -> int:
    try:
        return index[entry[key]]
    except KeyError:
        what = "an image" if key == "image_id" else "a category"
        raise CocoFormatError(
            f"{path}: {where}: {key} {entry[key]!r} is not {what} of {src}"
        ) from None


Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _fast_rows(entries: list[Any], value_key: str, maps: tuple[dict[Id, int], ...]) -> Rows | None:
    """The arrays without per-entry messages; None if anything is off (the slow path says what)."""
    image_index, class_index = maps
    n = len(entries)
    try:
        images = np.fromiter((image_index[e["image_id"]] for e in entries), np.int64, n)
        classes = np.fromiter((class_index[e["category_id"]] for e in entries), np.int64, n)
        boxes = [e["bbox"] for e in entries]
        values = [e[value_key] for e in entries]
        crowd = [e.get("iscrowd", 0) for e in entries]
        types = {type(v) for b in boxes for v in b} | {type(v) for v in values}
        box_arr = np.asarray(boxes, dtype=np.float64).reshape(n, -1)
        value_arr = np.asarray(values, dtype=np.float64)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if types - {int, float} or set(crowd) - {0, 1} or box_arr.shape != (n, 4):
        return None
    if not (np.isfinite(box_arr).all() and np.isfinite(value_arr).all()):
        return None
    return images, classes, box_arr.reshape(-1, 4), value_arr, np.asarray(crowd, dtype=bool)


def _rows(
    path: Path,
    entries: list[Any],
    fields: tuple[str, ...],
    label: str,
    maps: tuple[dict[Id, int], dict[Id, int]],
    src: str,
) -> Rows:
    """Validated (image index, class index, bbox, area or score, crowd) arrays."""
    fast = _fast_rows(entries, fields[-1], maps)
    if fast is not None:
        return fast
    image_index, class_index = maps
    images, classes = [], []
    for i, entry in enumerate(entries):
        where = f"{label}[{i}]"
        _check_entry(path, where, entry, fields)
        images.append(_lookup(path, where, entry, "image_id", image_index, src))
        classes.append(_lookup(path, where, entry, "category_id", class_index, src))
    return (
        np.asarray(images, dtype=np.int64),
        np.asarray(classes, dtype=np.int64),
        np.asarray([e["bbox"] for e in entries], dtype=np.float64).reshape(-1, 4),
        np.asarray([e[fields[-1]] for e in entries], dtype=np.float64),
        np.asarray([bool(e.get("iscrowd", 0)) for e in entries], dtype=bool),
    )


def _list_field(path: Path, data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise CocoFormatError(
            f"{path}: missing or invalid {key!r} list (not a COCO instances file?)"
        )
    return value


def read_coco_gt(path: str | Path) -> CocoGroundTruthFile:
    """Read a COCO ``instances`` json (e.g. an AI-TOD annotation file).

    Raises:
        CocoFormatError: unreadable file, invalid JSON, or an invalid entry (the message
            names the entry, e.g. ``annotations[17]: missing 'area'``).
    """
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict):
        raise CocoFormatError(f"{path}: expected a JSON object (a COCO instances file)")
    images, anns, cats = (
        _list_field(path, data, k) for k in ("images", "annotations", "categories")
    )
    for what, items in (("images", images), ("categories", cats)):
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "id" not in item:
                raise CocoFormatError(f"{path}: {what}[{i}]: expected an object with an 'id'")
    image_index = _index_of([im["id"] for im in images], path, "image")
    class_index = _index_of([c["id"] for c in cats], path, "category")
    by_id = {im["id"]: im for im in images}
    image_names = [str(by_id[i].get("file_name", i)) for i in sorted(by_id)]
    cat_by_id = {c["id"]: c for c in cats}
    class_names = _unique_names([str(cat_by_id[i].get("name", i)) for i in sorted(cat_by_id)])
    image, label, xywh, area, crowd = _rows(
        path,
        anns,
        ("image_id", "category_id", "bbox", "area"),
        "annotations",
        (image_index, class_index),
        '"images" / "categories"',
    )
    gt = CocoGroundTruth(
        image_names=tuple(image_names),
        class_names=tuple(class_names),
        image=image,
        label=label,
        xywh=xywh,
        area=area,
        crowd=crowd,
    )
    return CocoGroundTruthFile(path=path, gt=gt, image_index=image_index, class_index=class_index)


def read_coco_results(path: str | Path, gt_file: CocoGroundTruthFile) -> CocoDetections:
    """Read a COCO results json (a list of detections) against its ground truth.

    An empty list is valid (no detections: every AP is 0).

    Raises:
        CocoFormatError: unreadable file, invalid JSON, or an invalid detection (the
            message names it, e.g. ``detections[5]: image_id 99 is not an image of gt.json``).
    """
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, list):
        raise CocoFormatError(f"{path}: expected a JSON list of detections (COCO results format)")
    image, label, xywh, score, _ = _rows(
        path,
        data,
        ("image_id", "category_id", "bbox", "score"),
        "detections",
        (gt_file.image_index, gt_file.class_index),
        gt_file.path.name,
    )
    return CocoDetections(image=image, label=label, xywh=xywh, score=score)
