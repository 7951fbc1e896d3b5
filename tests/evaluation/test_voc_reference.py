"""The vectorised VOC matcher agrees with a plain loop written after DOTA_devkit's
``voc_eval`` on random scenes (rotated and non-rectangular quads, difficult objects,
duplicates, false positives, several images and classes)."""

import numpy as np
import pytest
import shapely

from rsdet.evaluation import VocDetections, VocGroundTruth, dota_protocol, evaluate_voc
from rsdet.evaluation.voc_ap import voc07_ap
from rsdet.evaluation.voc_iou import quad_areas


def _iou(a, b):
    pa = shapely.make_valid(shapely.Polygon(a))
    pb = shapely.make_valid(shapely.Polygon(b))
    inter = pa.intersection(pb).area
    union = quad_areas(a[None])[0] + quad_areas(b[None])[0] - inter
    return inter / union if union > 0 else 0.0


def _task2_overlaps(gt_quads, det_quad):
    g = np.array(
        [[int(q[0, 0]), int(q[0, 1]), int(q[2, 0]), int(q[2, 1])] for q in gt_quads], float
    )
    b = [det_quad[0, 0], det_quad[0, 1], det_quad[2, 0], det_quad[2, 1]]
    iw = np.maximum(np.minimum(g[:, 2], b[2]) - np.maximum(g[:, 0], b[0]) + 1.0, 0.0)
    ih = np.maximum(np.minimum(g[:, 3], b[3]) - np.maximum(g[:, 1], b[1]) + 1.0, 0.0)
    inter = iw * ih
    union = (
        (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0)
        + (g[:, 2] - g[:, 0] + 1.0) * (g[:, 3] - g[:, 1] + 1.0)
        - inter
    )
    return inter / union


def loop_ap(gt, dets, k, ignore_difficult, task):
    """One class, one detection at a time, as the devkit walks it."""
    g = gt.label == k
    images = {i: np.flatnonzero(g & (gt.image == i)) for i in range(len(gt.image_names))}
    taken = {i: [False] * len(v) for i, v in images.items()}
    ignored = gt.difficult & ignore_difficult
    npos = int(np.count_nonzero(g & ~ignored))
    d = np.flatnonzero(dets.label == k)
    d = d[np.argsort(-dets.score[d], kind="stable")]
    tp, fp = np.zeros(len(d)), np.zeros(len(d))
    for n, j in enumerate(d):
        rows = images[int(dets.image[j])]
        ovmax, jmax = -np.inf, -1
        if len(rows):
            if task == 1:
                ovs = [_iou(gt.quads[r], dets.quads[j]) for r in rows]
            else:
                ovs = list(_task2_overlaps(gt.quads[rows], dets.quads[j]))
            ovmax, jmax = max(ovs), int(np.argmax(ovs))
        if ovmax > 0.5:
            if not ignored[rows[jmax]]:
                if not taken[int(dets.image[j])][jmax]:
                    tp[n] = 1
                    taken[int(dets.image[j])][jmax] = True
                else:
                    fp[n] = 1
        else:
            fp[n] = 1
    if npos == 0:
        return 0.0
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    return voc07_ap(tp / npos, tp / np.maximum(tp + fp, np.finfo(np.float64).eps))


def _rect(center, w, h, theta):
    c, s = np.cos(theta), np.sin(theta)
    v1, v2 = np.array([w / 2 * c, w / 2 * s]), np.array([-h / 2 * s, h / 2 * c])
    return np.stack([center - v1 - v2, center + v1 - v2, center + v1 + v2, center - v1 + v2])


def random_scene(seed, horizontal):
    rng = np.random.default_rng(seed)
    gt_rows, det_rows = [], []
    for image in range(6):
        for _ in range(rng.integers(0, 15)):
            center = rng.uniform(30, 300, 2)
            w, h = rng.uniform(4, 50, 2)
            if horizontal:
                quad = _rect(np.round(center), np.round(w), np.round(h), 0.0)
            else:
                quad = _rect(center, w, h, rng.uniform(-1.5, 1.5))
                if rng.random() < 0.3:
                    quad = quad + rng.normal(0, 1.5, (4, 2))  # non-rectangular quad
            label = int(rng.integers(3))
            gt_rows.append((image, label, quad, rng.random() < 0.2))
            for _ in range(rng.integers(0, 4)):  # duplicates and near misses
                noisy = _rect(
                    quad.mean(0) + rng.normal(0, 2, 2),
                    w * rng.uniform(0.7, 1.3),
                    h * rng.uniform(0.7, 1.3),
                    0.0 if horizontal else rng.normal(0, 0.2),
                )
                det_rows.append((image, label if rng.random() < 0.9 else 2, rng.random(), noisy))
        for _ in range(rng.integers(0, 4)):
            det_rows.append(
                (
                    image,
                    int(rng.integers(3)),
                    rng.random(),
                    _rect(rng.uniform(30, 300, 2), 20, 10, 0.0),
                )
            )
    gt = VocGroundTruth(
        image_names=tuple(f"img{i}" for i in range(6)),
        class_names=("a", "b", "c"),
        image=np.array([r[0] for r in gt_rows], np.int64),
        label=np.array([r[1] for r in gt_rows], np.int64),
        quads=np.array([r[2] for r in gt_rows]).reshape(-1, 4, 2),
        difficult=np.array([r[3] for r in gt_rows], bool),
    )
    dets = VocDetections(
        image=np.array([r[0] for r in det_rows], np.int64),
        label=np.array([r[1] for r in det_rows], np.int64),
        score=np.array([r[2] for r in det_rows]),
        quads=np.array([r[3] for r in det_rows]).reshape(-1, 4, 2),
    )
    return gt, dets


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("version", ["1.0", "1.5"])
@pytest.mark.parametrize("task", [1, 2])
def test_vectorised_matches_loop(seed, version, task):
    gt, dets = random_scene(seed, horizontal=task == 2)
    result = evaluate_voc(gt, dets, dota_protocol(version, hbb=task == 2))
    for k, name in enumerate(gt.class_names):
        expected = loop_ap(gt, dets, k, version == "1.0", task)
        assert result.per_class[name]["AP"] == pytest.approx(expected, abs=1e-12), name
