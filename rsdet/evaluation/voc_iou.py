"""Element-wise IoU of (detection, ground truth) pairs, the three ways the VOC protocols need.

* ``polygon`` (DOTA Task 1, DIOR-R): exact IoU of general quadrilaterals, as DOTA_devkit's
  ``polyiou`` (intersection of the polygons; union = area1 + area2 - intersection; no +1).
  Intersections come from shapely 2 (GEOS), vectorised over pairs. Self-intersecting
  ("bow-tie") quadrilaterals, which ``polyiou`` handles with signed areas, are repaired
  with ``shapely.make_valid`` first; valid input is unaffected.
* ``devkit_hbb`` (DOTA Task 2): ``dota_evaluation_task2.py``'s VOC IoU with the +1 pixel
  convention, on detection boxes ``(xmin, ymin, xmax, ymax)`` and ground-truth boxes
  truncated with ``int()``.
* ``hbb`` (DIOR): continuous-coordinate IoU of the axis-aligned envelopes (no +1), as
  mmdet 2.x / BboxToolkit ``bbox_overlaps`` (union floored at 1e-6).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import shapely

__all__ = [
    "IouKind",
    "devkit_det_boxes",
    "devkit_gt_boxes",
    "devkit_hbb_iou",
    "devkit_hbb_overlap",
    "envelope_iou",
    "envelopes",
    "polygon_iou",
    "polygon_iou_bound",
    "quad_areas",
    "to_geometries",
]

IouKind = Literal["polygon", "devkit_hbb", "hbb"]


def envelopes(quads: np.ndarray) -> np.ndarray:
    """(N, 4, 2) quadrilaterals -> (N, 4) axis-aligned ``xmin, ymin, xmax, ymax``."""
    return np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1)


def quad_areas(quads: np.ndarray) -> np.ndarray:
    """(N,) unsigned shoelace areas of (N, 4, 2) quadrilaterals, px²."""
    x, y = quads[..., 0], quads[..., 1]
    signed = 0.5 * np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1)
    areas: np.ndarray = np.abs(signed)
    return areas


def to_geometries(quads: np.ndarray) -> np.ndarray:
    """(N,) shapely polygons of (N, 4, 2) quadrilaterals; invalid ones made valid."""
    geoms: np.ndarray = np.asarray(shapely.polygons(quads))
    bad = ~shapely.is_valid(geoms)
    if np.any(bad):
        geoms[bad] = shapely.make_valid(geoms[bad])
    return geoms


def devkit_hbb_overlap(det_env: np.ndarray, gt_env: np.ndarray) -> np.ndarray:
    """(P,) bool: DOTA Task 1's pre-filter, envelopes overlap with the +1 convention.

    ``dota_evaluation_task1.py`` only computes polygon IoU for ground truth whose +1
    envelope IoU with the detection is > 0. Polygons that overlap always pass, so the
    filter only saves time; it never changes a decision.
    """
    iw = np.minimum(gt_env[:, 2], det_env[:, 2]) - np.maximum(gt_env[:, 0], det_env[:, 0]) + 1.0
    ih = np.minimum(gt_env[:, 3], det_env[:, 3]) - np.maximum(gt_env[:, 1], det_env[:, 1]) + 1.0
    keep: np.ndarray = (iw > 0) & (ih > 0)
    return keep


def polygon_iou(
    det_geoms: np.ndarray, gt_geoms: np.ndarray, det_area: np.ndarray, gt_area: np.ndarray
) -> np.ndarray:
    """(P,) IoU of polygon pairs (``polyiou`` semantics; 0 where the union is empty).

    Args:
        det_geoms, gt_geoms: (P,) shapely polygons, paired element-wise.
        det_area, gt_area: (P,) their unsigned shoelace areas.
    """
    inter = shapely.area(shapely.intersection(det_geoms, gt_geoms))
    union = det_area + gt_area - inter
    out = np.zeros(len(inter))
    np.divide(inter, union, out=out, where=union > 0)
    return out


def polygon_iou_bound(
    det_env: np.ndarray, gt_env: np.ndarray, det_area: np.ndarray, gt_area: np.ndarray
) -> np.ndarray:
    """(P,) cheap upper bound of the polygon IoU of valid quadrilaterals.

    The polygons' intersection is at most their envelopes' intersection and at most the
    smaller area, and IoU grows with the intersection, so pairs whose bound is below the
    threshold can skip the exact (GEOS) computation without changing any decision.
    """
    lt = np.maximum(det_env[:, :2], gt_env[:, :2])
    rb = np.minimum(det_env[:, 2:], gt_env[:, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = np.minimum(wh[:, 0] * wh[:, 1], np.minimum(det_area, gt_area))
    union = det_area + gt_area - inter
    out = np.zeros(len(inter))
    np.divide(inter, union, out=out, where=union > 0)
    return out


def devkit_gt_boxes(quads: np.ndarray) -> np.ndarray:
    """(N, 4) Task 2 ground-truth boxes: ``int()`` of vertices 1 and 3.

    ``dota_evaluation_task2.py`` reads HBB label files (vertices TL, TR, BR, BL) and takes
    ``int(x1), int(y1), int(x3), int(y3)``; that rule is applied verbatim to axis-aligned
    quadrilaterals. For a rotated quadrilateral (an OBB label file given instead), vertices
    1 and 3 are not the box corners, so its envelope is truncated instead: the horizontal
    box of the oriented object, which is how DOTA defines Task 2 ground truth.
    """
    env = envelopes(quads)
    xs, ys = quads[..., 0], quads[..., 1]
    axis_aligned = np.all((xs == env[:, [0]]) | (xs == env[:, [2]]), axis=1) & np.all(
        (ys == env[:, [1]]) | (ys == env[:, [3]]), axis=1
    )
    corners = np.concatenate([quads[:, 0], quads[:, 2]], axis=1)
    return np.trunc(np.where(axis_aligned[:, None], corners, env))


def devkit_det_boxes(quads: np.ndarray) -> np.ndarray:
    """(D, 4) Task 2 detection boxes: vertices 1 and 3, i.e. the submitted numbers."""
    return np.concatenate([quads[:, 0], quads[:, 2]], axis=1)


def devkit_hbb_iou(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(P,) +1-pixel VOC IoU of (P, 4) box pairs, as ``dota_evaluation_task2.py``."""
    iw = np.maximum(np.minimum(gt[:, 2], det[:, 2]) - np.maximum(gt[:, 0], det[:, 0]) + 1.0, 0.0)
    ih = np.maximum(np.minimum(gt[:, 3], det[:, 3]) - np.maximum(gt[:, 1], det[:, 1]) + 1.0, 0.0)
    inters = iw * ih
    uni = (
        (det[:, 2] - det[:, 0] + 1.0) * (det[:, 3] - det[:, 1] + 1.0)
        + (gt[:, 2] - gt[:, 0] + 1.0) * (gt[:, 3] - gt[:, 1] + 1.0)
        - inters
    )
    out = np.zeros(len(inters))
    np.divide(inters, uni, out=out, where=uni != 0)
    return out


def envelope_iou(det_env: np.ndarray, gt_env: np.ndarray) -> np.ndarray:
    """(P,) continuous IoU of (P, 4) ``xmin, ymin, xmax, ymax`` pairs (union >= 1e-6)."""
    lt = np.maximum(det_env[:, :2], gt_env[:, :2])
    rb = np.minimum(det_env[:, 2:], gt_env[:, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[:, 0] * wh[:, 1]
    det_area = (det_env[:, 2] - det_env[:, 0]) * (det_env[:, 3] - det_env[:, 1])
    gt_area = (gt_env[:, 2] - gt_env[:, 0]) * (gt_env[:, 3] - gt_env[:, 1])
    out: np.ndarray = inter / np.maximum(det_area + gt_area - inter, 1e-6)
    return out
