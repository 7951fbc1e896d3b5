"""AI-TOD v1 / v2: COCO json annotations (``aitod/annotations/*.json``) and PNG images.

* Classes: the json's ``categories`` sorted by id; label ``k`` is the ``k``-th id
  (AI-TOD: ids 1..8 -> labels 0..7). ``Dataset.meta["category_ids"]`` keeps the ids.
* Boxes: ``bbox = [x, y, w, h]`` in pixels becomes the 4-corner polygon TL, TR, BR, BL.
* ``iscrowd`` -> ``Sample.crowd``; an rsdet ``difficult`` key (0/1/2, written by
  ``rsdet split``) -> ``Sample.difficulty`` (COCO tools ignore unknown keys).
* ``Sample.meta``: ``coco_id`` (image id), ``file_name``, ``ann_ids`` (annotation ids, one
  per object) and ``areas`` (the json ``area`` field, which COCO evaluation uses for its size
  ranges; ``w * h`` when absent).
* Images with no annotation are samples with zero objects.

Image folder, first match wins:

1. ``?images=DIR`` (every listed image must be there);
2. otherwise the first of these folders that holds every image listed in the json:
   ``ROOT/images/<sub>/`` for each sub-folder (sorted), ``ROOT/images/``, ``JSON_DIR/images/``
   and ``JSON_DIR/``, where ``ROOT`` is the parent of ``JSON_DIR`` when that is named
   ``annotations`` (the official ``aitod/annotations/x.json`` + ``aitod/images/{trainval,test}``).

If no folder holds them all, the error names the first image missing from the closest one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rsdet.datasets.dataset import Dataset
from rsdet.datasets.errors import DatasetError, LabelError
from rsdet.structures import Sample

__all__ = ["coco_document", "read_aitod"]


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetError(f"{path}: annotation file not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise LabelError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    if not isinstance(doc, dict):
        raise LabelError(f"{path}: expected a COCO object with images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise LabelError(f"{path}: expected a list under {key!r} (COCO detection format)")
    return doc


def _field(item: Any, key: str, kind: type | tuple[type, ...], path: Path, ctx: str) -> Any:
    """``item[key]`` checked to be of ``kind`` (bools are not numbers)."""
    value = item.get(key) if isinstance(item, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise LabelError(f"{path}: {ctx}: {key!r} is missing or not of the expected type")
    return value


def _categories(doc: dict[str, Any], path: Path) -> tuple[tuple[str, ...], tuple[int, ...]]:
    cats = []
    for i, cat in enumerate(doc["categories"]):
        ctx = f"categories[{i}]"
        cats.append((_field(cat, "id", int, path, ctx), _field(cat, "name", str, path, ctx)))
    cats.sort()
    names = [name for _, name in cats]
    ids = [cid for cid, _ in cats]
    for what, seq in (("name", names), ("id", ids)):
        if len(set(seq)) != len(seq):
            raise LabelError(f"{path}: 'categories' lists a {what} twice")
    if not cats:
        raise LabelError(f"{path}: 'categories' is empty")
    return tuple(names), tuple(ids)


def _bbox_polygon(ann: dict[str, Any], path: Path, ctx: str) -> np.ndarray:
    bbox: Any = ann.get("bbox")
    ok = isinstance(bbox, list) and len(bbox) == 4
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
    if not ok or not all(math.isfinite(v) for v in bbox):
        raise LabelError(f"{path}: {ctx}: 'bbox' must be 4 numbers [x, y, w, h], got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        raise LabelError(f"{path}: {ctx}: bbox width and height must be >= 0, got {bbox!r}")
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])


class _Objects:
    """Objects of one image, collected while walking the annotations."""

    def __init__(self) -> None:
        self.polygons: list[np.ndarray] = []
        self.labels: list[int] = []
        self.difficulty: list[int] = []
        self.crowd: list[bool] = []
        self.ann_ids: list[int] = []
        self.areas: list[float] = []


def _group_annotations(
    doc: dict[str, Any], path: Path, image_ids: set[int], cat_index: dict[int, int]
) -> dict[int, _Objects]:
    groups = {image_id: _Objects() for image_id in image_ids}
    for i, ann in enumerate(doc["annotations"]):
        ann_id = ann.get("id", i + 1) if isinstance(ann, dict) else None
        ctx = f"annotations[{i}] (id {ann_id})"
        image_id = _field(ann, "image_id", int, path, ctx)
        if image_id not in groups:
            raise LabelError(f"{path}: {ctx}: image_id {image_id} is not in 'images'")
        cat = _field(ann, "category_id", int, path, ctx)
        if cat not in cat_index:
            known = ", ".join(str(c) for c in cat_index)
            raise LabelError(f"{path}: {ctx}: unknown category_id {cat}; known ids: {known}")
        polygon = _bbox_polygon(ann, path, ctx)
        difficult = ann.get("difficult", 0)
        if difficult not in (0, 1, 2):
            raise LabelError(f"{path}: {ctx}: 'difficult' must be 0, 1 or 2, got {difficult!r}")
        objs = groups[image_id]
        objs.polygons.append(polygon)
        objs.labels.append(cat_index[cat])
        objs.difficulty.append(int(difficult))
        objs.crowd.append(bool(ann.get("iscrowd", 0)))
        objs.ann_ids.append(int(ann_id) if isinstance(ann_id, int) else i + 1)
        w, h = polygon[2] - polygon[0]
        area = ann.get("area", w * h)
        objs.areas.append(float(area) if isinstance(area, (int, float)) else float(w * h))
    return groups


def _candidate_dirs(json_path: Path) -> list[Path]:
    json_dir = json_path.parent
    found: list[Path] = []
    if json_dir.name == "annotations":
        images = json_dir.parent / "images"
        if images.is_dir():
            found += sorted(p for p in images.iterdir() if p.is_dir())
            found.append(images)
    found += [json_dir / "images", json_dir]
    return [d for d in dict.fromkeys(found) if d.is_dir()]


def _missing(folder: Path, file_names: Sequence[str]) -> list[str]:
    names = {p.name for p in folder.iterdir()}
    return [
        f for f in file_names if (f not in names if "/" not in f else not (folder / f).is_file())
    ]


def _resolve_image_dir(json_path: Path, file_names: Sequence[str], images: Path | None) -> Path:
    """The folder holding every listed image (rule in the module docstring)."""
    if images is not None:
        if not images.is_dir():
            raise DatasetError(f"{images}: image folder (from ?images=) not found")
        missing = _missing(images, file_names)
        if missing:
            raise DatasetError(f"{images / missing[0]}: image listed in {json_path} not found")
        return images
    candidates = _candidate_dirs(json_path)
    best: tuple[int, Path, str] | None = None
    for folder in candidates:
        missing = _missing(folder, file_names)
        if not missing:
            return folder
        if best is None or len(missing) < best[0]:
            best = (len(missing), folder, missing[0])
    if best is None:
        raise DatasetError(f"{json_path}: no image folder found; give one with ?images=DIR")
    raise DatasetError(
        f"{best[1] / best[2]}: image listed in {json_path} not found ({best[0]} missing in the "
        f"closest folder of {len(candidates)} tried); give the folder with ?images=DIR"
    )


def _images(doc: dict[str, Any], path: Path) -> list[tuple[int, str, int, int]]:
    """``(id, file_name, height, width)`` per image, checked for duplicates."""
    out = []
    ids: set[int] = set()
    stems: set[str] = set()
    for i, img in enumerate(doc["images"]):
        ctx = f"images[{i}]"
        image_id = _field(img, "id", int, path, ctx)
        name = _field(img, "file_name", str, path, ctx)
        height, width = _field(img, "height", int, path, ctx), _field(img, "width", int, path, ctx)
        stem = Path(name).stem
        if image_id in ids or stem in stems:
            raise LabelError(f"{path}: {ctx}: image id {image_id} / name {stem!r} listed twice")
        ids.add(image_id)
        stems.add(stem)
        out.append((image_id, name, height, width))
    if not out:
        raise LabelError(f"{path}: 'images' is empty")
    return out


def read_aitod(json_path: Path, images: Path | None = None) -> Dataset:
    """Load an AI-TOD (or any COCO detection) json; see the module docstring for the rules."""
    doc = _load_json(json_path)
    classes, cat_ids = _categories(doc, json_path)
    image_rows = _images(doc, json_path)
    groups = _group_annotations(
        doc, json_path, {r[0] for r in image_rows}, {c: i for i, c in enumerate(cat_ids)}
    )
    folder = _resolve_image_dir(json_path, [r[1] for r in image_rows], images)
    samples = []
    for image_id, name, height, width in sorted(image_rows, key=lambda r: Path(r[1]).stem):
        objs = groups[image_id]
        meta = {
            "coco_id": image_id,
            "file_name": name,
            "ann_ids": np.asarray(objs.ann_ids, np.int64),
            "areas": np.asarray(objs.areas, np.float64),
        }
        samples.append(
            Sample(
                image_id=Path(name).stem,
                height=height,
                width=width,
                polygons=np.asarray(objs.polygons, np.float64).reshape(-1, 4, 2),
                labels=np.asarray(objs.labels, np.int64),
                difficulty=np.asarray(objs.difficulty, np.int8),
                crowd=np.asarray(objs.crowd, bool),
                image_path=folder / name,
                meta=meta,
            )
        )
    version = re.search(r"_v(\d)_", json_path.name)
    root = json_path.parent.parent if json_path.parent.name == "annotations" else json_path.parent
    return Dataset(
        format="aitod",
        version=version.group(1) if version else "",
        classes=classes,
        box_type="hbox",
        root=root,
        samples=samples,
        meta={"category_ids": cat_ids, "annotations": json_path, "images": folder},
    )


def coco_document(
    samples: Sequence[Sample],
    file_names: Sequence[str],
    category_ids: Sequence[int],
    classes: Sequence[str],
) -> dict[str, Any]:
    """A COCO detection document for ``samples`` (boxes = envelopes of their polygons).

    Image ids and annotation ids count from 1 in the given order (id 0 is never used:
    pycocotools treats a match with annotation id 0 as no match). ``area`` is ``w * h``,
    ``segmentation`` the box as a 4-point polygon, as in the AI-TOD release; objects with a
    non-zero difficulty carry an extra ``difficult`` key.
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, (sample, name) in enumerate(zip(samples, file_names, strict=True), 1):
        images.append(
            {"id": image_id, "file_name": name, "height": sample.height, "width": sample.width}
        )
        boxes = sample.hboxes().numpy() if len(sample) else np.zeros((0, 4))
        for k in range(len(sample)):
            x1, y1, x2, y2 = (round(float(v), 2) for v in boxes[k])
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": int(category_ids[int(sample.labels[k])]),
                "bbox": [x1, y1, w, h],
                "area": round(w * h, 4),
                "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]],
                "iscrowd": int(sample.crowd[k]),
            }
            if sample.difficulty[k]:
                ann["difficult"] = int(sample.difficulty[k])
            annotations.append(ann)
    categories = [
        {"id": int(c), "name": n, "supercategory": "none"}
        for c, n in zip(category_ids, classes, strict=True)
    ]
    return {"images": images, "annotations": annotations, "categories": categories}
