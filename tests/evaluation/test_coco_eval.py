"""COCO-style scoring on small cases whose metrics follow by hand."""

import numpy as np
import pytest

from rsdet.evaluation import (
    AITOD_PARAMS,
    COCO_PARAMS,
    CocoDetections,
    CocoGroundTruth,
    evaluate_coco,
)

# A perfect match scores 1 / (1 + eps) at every point: pycocotools' precision is
# tp / (tp + fp + np.spacing(1)).
PERFECT = 1.0 / (1.0 + np.spacing(1))


def gt_of(rows, n_images=1, classes=("car", "ship")):
    """rows: (image, label, [x, y, w, h], crowd) with area = w * h."""
    xywh = np.array([r[2] for r in rows], float).reshape(-1, 4)
    return CocoGroundTruth(
        image_names=tuple(f"im{i}" for i in range(n_images)),
        class_names=tuple(classes),
        image=np.array([r[0] for r in rows], np.int64),
        label=np.array([r[1] for r in rows], np.int64),
        xywh=xywh,
        area=xywh[:, 2] * xywh[:, 3],
        crowd=np.array([r[3] for r in rows], bool),
    )


def dets_of(rows):
    """rows: (image, label, [x, y, w, h], score)."""
    return CocoDetections(
        image=np.array([r[0] for r in rows], np.int64),
        label=np.array([r[1] for r in rows], np.int64),
        xywh=np.array([r[2] for r in rows], float).reshape(-1, 4),
        score=np.array([r[3] for r in rows], float),
    )


def test_perfect_detection():
    gt = gt_of([(0, 0, [10, 10, 20, 20], False)])
    result = evaluate_coco(gt, dets_of([(0, 0, [10, 10, 20, 20], 0.9)]), COCO_PARAMS)
    assert result.metrics["AP"] == PERFECT
    assert result.metrics["AR100"] == 1.0
    # 20x20 = 400 px² is "small" (<= 32²): defined; no medium / large objects: undefined.
    assert result.metrics["APs"] == PERFECT
    assert result.metrics["APm"] is None and result.metrics["APl"] is None
    assert result.per_class["car"]["AP"] == PERFECT
    assert result.per_class["ship"]["AP"] is None  # no ground truth: undefined, not 0


def test_no_detections_scores_zero_and_no_ground_truth_is_undefined():
    gt = gt_of([(0, 0, [10, 10, 20, 20], False)])
    assert evaluate_coco(gt, dets_of([]), COCO_PARAMS).metrics["AP"] == 0.0
    empty = gt_of([])
    result = evaluate_coco(empty, dets_of([(0, 0, [0, 0, 5, 5], 0.5)]), COCO_PARAMS)
    assert all(v is None for v in result.metrics.values())


def test_iou_threshold_is_inclusive():
    # GT 10x10 at the origin, detection 10x20 over it: IoU = 100 / 200 = 0.5 exactly.
    # It matches at t = 0.5 only (>=): AP50 = 1/(1+eps), AP75 = 0, AP = mean over the 10
    # thresholds = 0.1 * PERFECT (up to the rounding of the mean).
    gt = gt_of([(0, 0, [0, 0, 10, 10], False)])
    result = evaluate_coco(gt, dets_of([(0, 0, [0, 0, 10, 20], 0.9)]), COCO_PARAMS)
    assert result.metrics["AP50"] == pytest.approx(PERFECT, abs=1e-15)
    assert result.metrics["AP75"] == 0.0
    assert result.metrics["AP"] == pytest.approx(0.1 * PERFECT, abs=1e-15)


def test_crowd_region_absorbs_detections():
    # A crowd region covers three high-scoring detections: IoU with a crowd GT uses the
    # detection's area as union (= 1 here), so they match it and are ignored instead of
    # counting as false positives. The one real object is found at a lower score.
    gt = gt_of([(0, 0, [0, 0, 100, 100], True), (0, 0, [200, 200, 10, 10], False)])
    dets = dets_of(
        [(0, 0, [10 * i, 10, 8, 8], 0.9 - 0.01 * i) for i in range(3)]
        + [(0, 0, [200, 200, 10, 10], 0.5)]
    )
    assert evaluate_coco(gt, dets, COCO_PARAMS).metrics["AP"] == PERFECT
    # Same boxes without the crowd flag: 3 FPs ahead of the TP -> precision 1/4 at the
    # only recall level reached (the crowd object is now a missed positive, recall 1/2).
    no_crowd = gt_of([(0, 0, [0, 0, 100, 100], False), (0, 0, [200, 200, 10, 10], False)])
    assert evaluate_coco(no_crowd, dets, COCO_PARAMS).metrics["AP"] < 0.2


def test_max_dets_caps_detections_per_image_and_class():
    # Two objects, two perfect detections in one image. With 1 detection allowed the
    # best one is kept: AR1 = 1/2; AR100 = 1.
    gt = gt_of([(0, 0, [0, 0, 10, 10], False), (0, 0, [50, 50, 10, 10], False)])
    dets = dets_of([(0, 0, [0, 0, 10, 10], 0.9), (0, 0, [50, 50, 10, 10], 0.8)])
    result = evaluate_coco(gt, dets, COCO_PARAMS)
    assert result.metrics["AR1"] == 0.5
    assert result.metrics["AR100"] == 1.0


def test_aitod_bins_are_inclusive_at_both_ends():
    # An 8x8 object (area exactly 64) lies in "very tiny" [0, 64] and in "tiny" [64, 256].
    gt = gt_of([(0, 0, [0, 0, 8, 8], False)])
    result = evaluate_coco(gt, dets_of([(0, 0, [0, 0, 8, 8], 0.9)]), AITOD_PARAMS)
    assert result.metrics["APvt"] == PERFECT
    assert result.metrics["APt"] == PERFECT
    assert result.metrics["APs"] is None
    assert list(result.metrics) == [
        "AP", "AP50", "AP75", "APvt", "APt", "APs", "APm",
        "AR1", "AR100", "AR1500", "ARvt", "ARt", "ARs", "ARm",
    ]  # fmt: skip


def test_lower_scored_duplicate_falls_back_to_the_next_free_object():
    # COCO (unlike VOC) lets a detection take its best *free* object: d2 duplicates d1's
    # object but overlaps the second object with IoU 0.6 >= 0.5, so at t = 0.5 both are TP.
    gt = gt_of([(0, 0, [0, 0, 10, 10], False), (0, 0, [2.5, 0, 10, 10], False)])
    dets = dets_of([(0, 0, [0, 0, 10, 10], 0.9), (0, 0, [0, 0, 10, 10], 0.8)])
    # IoU(d2, gt2) = 75 / 125 = 0.6. Precision 1/(1+eps), then 2/(2+eps) == 1.0.
    result = evaluate_coco(gt, dets, COCO_PARAMS)
    assert result.metrics["AP50"] == pytest.approx(1.0, abs=1e-15)
    assert result.metrics["AR100"] > 0.5  # both objects found at the lower thresholds
