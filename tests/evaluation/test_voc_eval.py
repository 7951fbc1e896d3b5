"""DOTA / DIOR scoring on cases whose AP is derived by hand (derivations in comments).

Notation: detections listed in descending score; tp/fp are cumulative; rec = tp / npos,
prec = tp / (tp + fp). VOC07 AP = (1/11) * sum over t in np.arange(0, 1.1, 0.1) of the
best precision at rec >= t (0 when no recall reaches t).
"""

import numpy as np
import pytest

from rsdet.evaluation import (
    VocDetections,
    VocGroundTruth,
    dior_protocol,
    dota_protocol,
    evaluate_voc,
)
from rsdet.evaluation.voc_data import boxes_to_quads

DOTA10 = (
    "plane baseball-diamond bridge ground-track-field small-vehicle large-vehicle ship "
    "tennis-court basketball-court storage-tank soccer-ball-field roundabout harbor "
    "swimming-pool helicopter"
).split()


def gt_of(objects, images=("P0001",), classes=("plane", "ship")):
    """objects: (image index, class index, quad (4, 2) or box xyxy, difficult)."""
    quads = [
        np.asarray(q, float) if np.asarray(q).shape == (4, 2) else boxes_to_quads([q])[0]
        for _, _, q, _ in objects
    ]
    return VocGroundTruth(
        image_names=tuple(images),
        class_names=tuple(classes),
        image=np.array([o[0] for o in objects], np.int64),
        label=np.array([o[1] for o in objects], np.int64),
        quads=np.array(quads, float).reshape(-1, 4, 2),
        difficult=np.array([o[3] for o in objects], bool),
    )


def dets_of(items):
    """items: (image index, class index, score, box xyxy or quad)."""
    quads = [
        np.asarray(q, float) if np.asarray(q).shape == (4, 2) else boxes_to_quads([q])[0]
        for *_, q in items
    ]
    return VocDetections(
        image=np.array([i[0] for i in items], np.int64),
        label=np.array([i[1] for i in items], np.int64),
        score=np.array([i[2] for i in items], float),
        quads=np.array(quads, float).reshape(-1, 4, 2),
    )


def plane_ap(result):
    return result.per_class["plane"]["AP"]


def test_iou_exactly_half_is_a_miss_for_dota_and_a_hit_for_dior():
    # GT 10x10; detection 20x10 over it: inter 100, union 200 -> IoU exactly 0.5.
    gt = gt_of([(0, 0, [0, 0, 10, 10], False)])
    dets = dets_of([(0, 0, 0.9, [0, 0, 20, 10])])
    # DOTA_devkit: 0.5 > 0.5 is false -> FP, tp stays 0 -> AP 0.
    assert plane_ap(evaluate_voc(gt, dets, dota_protocol("1.0"))) == 0.0
    # mmrotate / OBBDetection: 0.5 >= 0.5 -> TP, rec = prec = 1 at every point -> AP 1.
    assert plane_ap(evaluate_voc(gt, dets, dior_protocol(oriented=True))) == pytest.approx(1.0)
    # A hair more overlap (19x10: IoU 100/190 = 0.526) is a hit for DOTA too.
    dets = dets_of([(0, 0, 0.9, [0, 0, 19, 10])])
    assert plane_ap(evaluate_voc(gt, dets, dota_protocol("1.0"))) == pytest.approx(1.0)


def test_difficult_ignored_in_v10_and_counted_in_v15():
    # GT1 normal, GT2 difficult. Detections: d1 .9 = GT2, d3 .8 = nothing, d2 .7 = GT1.
    gt = gt_of([(0, 0, [0, 0, 10, 10], False), (0, 0, [20, 0, 30, 10], True)])
    dets = dets_of(
        [(0, 0, 0.9, [20, 0, 30, 10]), (0, 0, 0.8, [50, 50, 60, 60]), (0, 0, 0.7, [0, 0, 10, 10])]
    )
    # v1.0: npos 1; d1 ignored, d3 FP, d2 TP: tp [0,0,1], fp [0,1,1] -> rec [0,0,1],
    # prec [0,0,.5]; every point's best precision is .5 -> AP 0.5.
    v10 = evaluate_voc(gt, dets, dota_protocol("1.0"))
    assert plane_ap(v10) == pytest.approx(0.5)
    assert v10.per_class["plane"]["num_gt"] == 1
    # v1.5: npos 2; TP, FP, TP: tp [1,1,2], fp [0,1,1] -> rec [.5,.5,1], prec [1,.5,2/3].
    # Points 0 .. 0.5 (6 of them) reach rec .5 -> 1; points 0.6 .. 1.0 (5) -> 2/3.
    # AP = (6 + 5 * 2/3) / 11 = 28/33.
    v15 = evaluate_voc(gt, dets, dota_protocol("1.5"))
    assert plane_ap(v15) == pytest.approx(28 / 33)
    assert v15.per_class["plane"]["num_gt"] == 2


def test_duplicate_is_a_false_positive_even_if_another_gt_would_fit():
    # GT1 [0,10], GT2 [2,12] (IoU between them 80/120). d2 duplicates d1 on GT1; its
    # second-best GT2 (IoU .67) is not tried (VOC, unlike COCO). d3 takes GT2.
    gt = gt_of([(0, 0, [0, 0, 10, 10], False), (0, 0, [2, 0, 12, 10], False)])
    dets = dets_of(
        [(0, 0, 0.9, [0, 0, 10, 10]), (0, 0, 0.8, [0, 0, 10, 10]), (0, 0, 0.7, [2, 0, 12, 10])]
    )
    # TP, FP, TP: rec [.5,.5,1], prec [1,.5,2/3] -> 28/33 (as above).
    result = evaluate_voc(gt, dets, dota_protocol("1.0"))
    assert plane_ap(result) == pytest.approx(28 / 33)


def test_eleven_point_quirk_at_recall_three_tenths():
    # 10 GT, 3 exact detections: rec [.1,.2,.3], prec 1. np.arange's third point is
    # 0.30000000000000004 > 3/10, so only the points 0, 0.1, 0.2 are reached: AP = 3/11
    # (4/11 if the point were exactly 0.3).
    boxes = [[20 * i, 0, 20 * i + 10, 10] for i in range(10)]
    gt = gt_of([(0, 0, b, False) for b in boxes])
    dets = dets_of([(0, 0, 0.9 - 0.1 * i, boxes[i]) for i in range(3)])
    assert plane_ap(evaluate_voc(gt, dets, dota_protocol("1.0"))) == pytest.approx(3 / 11)


def test_class_without_gt_scores_zero_in_dota_and_is_skipped_in_dior():
    gt = gt_of([(0, 0, [0, 0, 10, 10], False)], classes=DOTA10)
    dets = dets_of([(0, 0, 0.9, [0, 0, 10, 10]), (0, 6, 0.8, [40, 40, 50, 50])])
    dota = evaluate_voc(gt, dets, dota_protocol("1.0"))
    # plane AP 1; the 14 other classes have no GT -> AP 0 each; mAP = 1/15.
    assert dota.per_class["ship"]["AP"] == 0.0
    assert dota.metrics["mAP"] == pytest.approx(1 / 15)
    dior = evaluate_voc(gt, dets, dior_protocol(oriented=True))
    assert dior.per_class["ship"]["AP"] is None
    assert dior.metrics["mAP"] == pytest.approx(1.0)


def test_class_without_detections_has_ap_zero():
    gt = gt_of([(0, 0, [0, 0, 10, 10], False), (0, 1, [30, 30, 40, 40], False)])
    dets = dets_of([(0, 0, 0.9, [0, 0, 10, 10])])
    result = evaluate_voc(gt, dets, dota_protocol("1.0"))
    assert result.per_class["ship"]["AP"] == 0.0
    assert result.per_class["ship"]["num_det"] == 0
    # mAP over the 2 classes: (1 + 0) / 2.
    assert result.metrics["mAP"] == pytest.approx(0.5)


def test_no_detections_at_all():
    gt = gt_of([(0, 0, [0, 0, 10, 10], False)])
    result = evaluate_voc(gt, dets_of([]), dota_protocol("1.0"))
    assert result.metrics["mAP"] == 0.0


def test_non_rectangular_gt_uses_the_exact_polygon():
    # GT trapezoid (0,0) (10,0) (6,10) (4,10): width 10 - 0.8 y, area 60. Detection: the
    # lower half of its 10x10 envelope, [0,10] x [0,5]: inter = integral_0^5 (10 - 0.8y)
    # = 40, union 50 + 60 - 40 = 70 -> IoU 4/7 > 0.5 -> TP (AP 1). Scoring against the
    # trapezoid's bounding rectangle instead would give 50/100 = 0.5 -> FP under ">".
    trapezoid = [[0, 0], [10, 0], [6, 10], [4, 10]]
    gt = gt_of([(0, 0, trapezoid, False)])
    dets = dets_of([(0, 0, 0.9, [0, 0, 10, 5])])
    assert plane_ap(evaluate_voc(gt, dets, dota_protocol("1.0"))) == pytest.approx(1.0)


def test_rotated_detection_polygon_iou():
    # GT: the 10x10 square; detection: the same square turned 45 degrees about its centre.
    # The diamond cuts 4 right isosceles corners of legs 10 - 5 sqrt2 off the square:
    # inter = 100 - 2 (10 - 5 sqrt2)^2 = 200 sqrt2 - 200, union = 200 - inter, so
    # IoU = (sqrt2 - 1) / (2 - sqrt2) = 1 / sqrt2 = 0.707 > 0.5 -> TP, AP 1.
    c, r = 5.0, 5.0 * np.sqrt(2)
    diamond = [[c, c - r], [c + r, c], [c, c + r], [c - r, c]]
    gt = gt_of([(0, 0, [0, 0, 10, 10], False)])
    dets = dets_of([(0, 0, 0.9, diamond)])
    assert plane_ap(evaluate_voc(gt, dets, dota_protocol("1.0"))) == pytest.approx(1.0)


def test_task2_plus_one_iou_and_int_ground_truth():
    # Task 2 GT box = int() of vertices 1 and 3: (0.9, 0.9)-(9.9, 9.9) -> (0, 0, 9, 9), whose
    # +1 area is 10 x 10 = 100. Detection (0, 0, 19, 9): +1 area 200, inter 100 ->
    # IoU 100 / 200 = 0.5 -> FP under ">": AP 0. Detection (0, 0, 18, 9): 100/190 -> TP.
    gt = gt_of([(0, 0, [0.9, 0.9, 9.9, 9.9], False)])
    proto = dota_protocol("1.0", hbb=True)
    assert plane_ap(evaluate_voc(gt, dets_of([(0, 0, 0.9, [0, 0, 19, 9])]), proto)) == 0.0
    hit = evaluate_voc(gt, dets_of([(0, 0, 0.9, [0, 0, 18, 9])]), proto)
    assert plane_ap(hit) == pytest.approx(1.0)


def test_dior_area_mode():
    # TP, FP, TP with npos 2 (the duplicate case): rec [.5,.5,1], prec [1,.5,2/3].
    # All-point AP: envelope 1 up to rec .5, 2/3 up to rec 1 -> .5 * 1 + .5 * 2/3 = 5/6.
    gt = gt_of([(0, 0, [0, 0, 10, 10], False), (0, 0, [2, 0, 12, 10], False)])
    dets = dets_of(
        [(0, 0, 0.9, [0, 0, 10, 10]), (0, 0, 0.8, [0, 0, 10, 10]), (0, 0, 0.7, [2, 0, 12, 10])]
    )
    area = evaluate_voc(gt, dets, dior_protocol(oriented=False, ap_mode="area"))
    assert plane_ap(area) == pytest.approx(5 / 6)
    assert area.settings["ap_mode"] == "area"


def test_dior_counts_difficult_objects():
    # DIOR's difficult flags are not read by mmrotate / OBBDetection: npos 2 here, the
    # only detection finds one -> rec .5, prec 1 -> points 0 .. 0.5 reached: AP 6/11.
    gt = gt_of([(0, 0, [0, 0, 10, 10], False), (0, 0, [20, 0, 30, 10], True)])
    dets = dets_of([(0, 0, 0.9, [0, 0, 10, 10])])
    assert plane_ap(evaluate_voc(gt, dets, dior_protocol(oriented=False))) == pytest.approx(6 / 11)


def test_detections_only_match_their_own_image():
    gt = gt_of([(1, 0, [0, 0, 10, 10], False)], images=("a", "b"))
    dets = dets_of([(0, 0, 0.9, [0, 0, 10, 10])])  # right box, wrong image
    assert plane_ap(evaluate_voc(gt, dets, dota_protocol("1.0"))) == 0.0


def test_degenerate_boxes_never_match():
    gt = gt_of([(0, 0, [5, 5, 5, 5], False)])  # zero area
    dets = dets_of([(0, 0, 0.9, [5, 5, 5, 5])])
    for proto in (dota_protocol("1.0"), dior_protocol(oriented=True), dior_protocol(False)):
        assert plane_ap(evaluate_voc(gt, dets, proto)) == 0.0
