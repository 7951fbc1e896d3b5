"""The Deepness plugin's detection decoding, re-implemented in numpy as the test oracle.

After PUTvision/qgis-plugin-deepness @ f450c63, ``src/deepness/processing/models/detector.py``:
``_postprocessing_YOLO_ULTRALYTICS`` / ``_OBB`` keep rows whose best class score is
``>= det_conf``, turn ``cx cy w h`` into corners (OBB: long side first, angle modulo pi), run
``non_max_suppression_fast`` (class-agnostic, greedy from the best score, areas counted with
the ``+ 1`` pixel convention, exact rotated intersections for OBB) and cast the corners to
int. The oracle stops before the int cast, so tests compare the plugin's boxes with rsdet's
at float precision.

The ``+ 1`` areas suit integer boxes; for oriented boxes the plugin adds 1 to the areas but
not to the exact intersections, so its IoU is a few percent lower than the true one and it
keeps some boxes that rsdet's rotated NMS suppresses (and, in crowded clusters, a kept box
then suppresses another). ``plus_one=False`` is the same decoding with true areas.
"""

from __future__ import annotations

import numpy as np
import shapely

from rsdet.structures import RBoxes


def decode(output: np.ndarray, conf: float, iou_thr: float, oriented: bool, plus_one=True):
    """One image's (D, N) output -> corners (M, 4) ``x1 y1 x2 y2``, scores, classes, angles."""
    rows = output.T.astype(np.float64)  # (N, D)
    scores = rows[:, 4:-1] if oriented else rows[:, 4:]
    keep = scores.max(axis=1) >= conf
    rows, scores = rows[keep], scores[keep]
    if oriented:  # xywhr2xyxyr
        w, h = rows[:, 2], rows[:, 3]
        angles = np.where(w > h, rows[:, -1], rows[:, -1] + np.pi / 2) % np.pi
        rows = np.stack([rows[:, 0], rows[:, 1], np.maximum(w, h), np.minimum(w, h)], axis=1)
    else:
        angles = np.zeros(len(rows))
    corners = np.stack(
        [
            rows[:, 0] - rows[:, 2] / 2,
            rows[:, 1] - rows[:, 3] / 2,
            rows[:, 0] + rows[:, 2] / 2,
            rows[:, 1] + rows[:, 3] / 2,
        ],
        axis=1,
    )
    probs = scores.max(axis=1)
    picked = nms_fast(corners, probs, angles, iou_thr, oriented, plus_one)
    return corners[picked], probs[picked], scores[picked].argmax(axis=1), angles[picked]


def nms_fast(corners, probs, angles, iou_thr, oriented, plus_one=True):
    """``non_max_suppression_fast``: indices kept, best first."""
    x1, y1, x2, y2 = corners.T
    one = 1.0 if plus_one else 0.0
    areas = (x2 - x1 + one) * (y2 - y1 + one)
    order = np.argsort(probs)
    picked = []
    while order.size > 0:
        best, rest = order[-1], order[:-1]
        picked.append(best)
        if oriented:
            inter = _rotated_intersections(corners, angles, best, rest)
        else:
            w = np.maximum(
                0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + one
            )
            h = np.maximum(
                0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + one
            )
            inter = w * h
        ratio = inter / (areas[best] + areas[rest] - inter)
        order = rest[ratio < iou_thr]
    return np.asarray(picked, dtype=np.int64)


def _rotated_intersections(corners, angles, best, rest):
    """Exact intersection areas of the rectangle ``best`` turned by its angle with the others."""
    polys = polygons(corners[[best, *rest]], angles[[best, *rest]])
    return shapely.area(shapely.intersection(polys[0], polys[1:]))


def polygons(corners, angles):
    """Shapely rectangles: corner boxes turned by ``angles`` about their centres."""
    cx, cy = (corners[:, 0] + corners[:, 2]) / 2, (corners[:, 1] + corners[:, 3]) / 2
    w, h = corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1]
    rboxes = RBoxes(np.stack([cx, cy, w, h, angles], axis=1))
    return shapely.polygons(rboxes.to_polygons().numpy().reshape(-1, 4, 2))


def matched_fraction(ours, theirs, iou_thr=0.9):
    """Share of ``ours`` polygons with a distinct partner in ``theirs`` at IoU >= ``iou_thr``."""
    if len(ours) == 0:
        return 1.0 if len(theirs) == 0 else 0.0
    inter = shapely.area(shapely.intersection(ours[:, None], theirs[None, :]))
    union = shapely.area(ours)[:, None] + shapely.area(theirs)[None, :] - inter
    iou = inter / np.maximum(union, 1e-12)
    used, matched = set(), 0
    for i in np.argsort(-iou.max(axis=1, initial=0.0)):
        for j in np.argsort(-iou[i]):
            if iou[i, j] < iou_thr:
                break
            if j not in used:
                used.add(j)
                matched += 1
                break
    return matched / len(ours)


def polygons_of(rboxes):
    """Shapely rectangles of (N, 5) rsdet ``cx cy w h theta`` rows."""
    return shapely.polygons(RBoxes(rboxes).to_polygons().numpy().reshape(-1, 4, 2))
