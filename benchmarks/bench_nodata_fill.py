"""How nodata pixels inside a tile should reach the model, measured on the packaged tree model.

A synthetic tree scene (``rsdet.synthetic``, 0.1 m, like ``rsdet demo``) is cut down to a few
irregular image patches on a nodata mosaic. For each way of filling nodata inside a tile
(``rsdet.io.radiometry.NODATA_FILLS``), with and without the per-detection validity filter
(``rsdet.io.validity.MIN_VALID_FRACTION``), it counts:

* ``on_nodata``: detections whose box is mostly (> half) nodata;
* ``edge``: detections straddling a patch edge (10-50 % nodata) that match no tree;
* ``recall``: trees wholly inside a patch found at IoU >= 0.5 (the full scene without
  nodata gives the ceiling).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nodata_fill.py [--size 2048] [--seeds 1 2]``.
Results as JSON lines; docs/detect.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import rasterio
import rsdet.pipelines.detect_units as units
import torch
from rasterio.features import rasterize
from rsdet.pipelines.detect_models import SpecRunner
from rsdet.pipelines.detect_scene import detect_scene
from shapely.geometry import Polygon

from rsdet.io.radiometry import NODATA_FILLS
from rsdet.io.validity import MIN_VALID_FRACTION, box_valid_fraction
from rsdet.structures import HBoxes, pairwise_iou
from rsdet.synthetic import make_scene, write_geotiff


def patch_mask(size: int, seed: int, patches: int = 5) -> np.ndarray:
    """(size, size) bool: a few irregular star-shaped patches, about a third of the scene."""
    rng = np.random.default_rng(seed)
    shapes = []
    for _ in range(patches):
        cx, cy = rng.uniform(0.15, 0.85, 2) * size
        angles = np.sort(rng.uniform(0, 2 * np.pi, 14))
        radii = rng.uniform(0.06, 0.2, 14) * size
        ring = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        shapes.append((Polygon(ring).buffer(0), 1))
    return rasterize(shapes, out_shape=(size, size), fill=0).astype(bool)


def write_patched(scene_tif: Path, valid: np.ndarray, out: Path) -> None:
    """The scene with nodata (0) outside ``valid``; real zeros inside are lifted to 1."""
    with rasterio.open(scene_tif) as src:
        profile, data = src.profile, src.read()
    data = np.where(valid[None], np.maximum(data, 1), 0).astype(np.uint8)
    profile.update(nodata=0)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)


def scene_pixels(frame, transform) -> np.ndarray:
    """(N, 4) x1 y1 x2 y2 scene pixels of the features' bounds (north-up transform)."""
    inv = ~transform
    boxes = []
    for g in frame.geometry:
        x0, y0, x1, y1 = g.bounds
        c0, r0 = inv @ (x0, y1)
        c1, r1 = inv @ (x1, y0)
        boxes.append([c0, r0, c1, r1])
    return np.asarray(boxes, np.float64).reshape(-1, 4)


def score(dets: np.ndarray, truth: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """Counts of one run against the trees; see the module docstring."""
    frac = box_valid_fraction(HBoxes(torch.from_numpy(dets)), valid)
    inside = truth[box_valid_fraction(HBoxes(torch.from_numpy(truth)), valid) >= 0.999]
    iou_all = pairwise_iou(HBoxes(torch.from_numpy(dets)), HBoxes(torch.from_numpy(truth))).numpy()
    matched_det = (iou_all >= 0.5).any(axis=1) if len(truth) else np.zeros(len(dets), bool)
    iou_in = pairwise_iou(HBoxes(torch.from_numpy(inside)), HBoxes(torch.from_numpy(dets))).numpy()
    found = (iou_in >= 0.5).any(axis=1) if len(dets) else np.zeros(len(inside), bool)
    return {
        "detections": len(dets),
        "on_nodata": int((frac < 0.5).sum()),
        "edge": int(((frac >= 0.5) & (frac < 0.9) & ~matched_det).sum()),
        "trees_inside": len(inside),
        "recall": round(float(found.mean()) if len(inside) else 1.0, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nodata_fill_"))
    for seed in args.seeds:
        sample = make_scene(seed, args.size, "trees", None)
        full = work / f"full{seed}.tif"
        write_geotiff(sample, full)
        truth = np.concatenate([sample.polygons.min(axis=1), sample.polygons.max(axis=1)], 1)
        valid = patch_mask(args.size, seed)
        patched = work / f"patched{seed}.tif"
        write_patched(full, valid, patched)
        with rasterio.open(full) as src:
            transform = src.transform
        base = detect_scene(str(full), "trees")
        ceiling = score(scene_pixels(base, transform), truth, valid)
        print(json.dumps({"seed": seed, "fill": "no nodata", **ceiling}), flush=True)
        for fill in NODATA_FILLS:
            for filtered in (False, True):
                SpecRunner.nodata_fill = fill
                units.MIN_VALID_FRACTION = MIN_VALID_FRACTION if filtered else 0.0
                frame = detect_scene(str(patched), "trees")
                counts = score(scene_pixels(frame, transform), truth, valid)
                row = {"seed": seed, "fill": fill, "filter": filtered, **counts}
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
