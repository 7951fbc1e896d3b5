"""In-memory evaluation from Samples and Detections, as the training engine calls it."""

import json
import math

import numpy as np
import pytest
import torch

from rsdet.evaluation import EvalResult, EvaluationInputError, evaluate
from rsdet.structures import Detections, HBoxes, RBoxes, Sample

CLASSES = ("plane", "ship")


def box_polygon(x1, y1, x2, y2):
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]


def sample(image_id, boxes=(), labels=(), difficulty=None, crowd=None):
    n = len(boxes)
    return Sample(
        image_id,
        100,
        100,
        np.array([box_polygon(*b) for b in boxes], float).reshape(-1, 4, 2),
        np.array(labels, np.int64),
        np.zeros(n, np.int8) if difficulty is None else np.array(difficulty, np.int8),
        np.zeros(n, bool) if crowd is None else np.array(crowd, bool),
    )


def hdets(boxes, scores, labels):
    return Detections(
        HBoxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)),
        torch.tensor(scores),
        torch.tensor(labels),
    )


SAMPLES = [sample("a", [(10, 10, 30, 30)], [0]), sample("b", [(0, 0, 8, 8)], [1]), sample("c")]


@pytest.mark.parametrize("protocol", ["coco", "aitod", "dota", "dota-hbb", "dior", "dior-r"])
def test_every_protocol_scores_a_perfect_run_as_one(protocol):
    dets = [hdets([[10, 10, 30, 30]], [0.9], [0]), hdets([[0, 0, 8, 8]], [0.8], [1]), None]
    result = evaluate(protocol, SAMPLES, dets, CLASSES)
    assert isinstance(result, EvalResult)
    assert result.protocol == protocol
    assert result.score == pytest.approx(1.0, abs=1e-12)
    assert set(result.per_class) == set(CLASSES)
    json.loads(result.to_json())  # serialisable, no NaN


def test_mapping_by_image_id_equals_aligned_list():
    dets = {"b": hdets([[0, 0, 8, 8]], [0.8], [1])}
    by_id = evaluate("aitod", SAMPLES, dets, CLASSES)
    aligned = evaluate("aitod", SAMPLES, [None, dets["b"], None], CLASSES)
    assert by_id.metrics == aligned.metrics
    assert by_id.per_class["plane"]["AP"] == 0.0  # plane has GT but no detection


def test_rotated_detections_score_with_polygons_and_envelopes():
    # A 20x20 box described as an oriented box with theta = 0: identical polygon.
    rdets = Detections(
        RBoxes(torch.tensor([[20.0, 20.0, 20.0, 20.0, 0.0]])),
        torch.tensor([0.9]),
        torch.tensor([0]),
    )
    samples = SAMPLES[:1]
    for protocol in ("dota", "dior-r", "dior", "coco"):
        assert evaluate(protocol, samples, [rdets], CLASSES).per_class["plane"][
            "AP"
        ] == pytest.approx(1.0, abs=1e-6)


def test_dota_version_changes_the_difficult_policy():
    samples = [sample("a", [(10, 10, 30, 30)], [0], difficulty=[1])]
    dets = [hdets([[10, 10, 30, 30]], [0.9], [0])]
    v10 = evaluate("dota", samples, dets, CLASSES, version="1.0")
    v15 = evaluate("dota", samples, dets, CLASSES, version="1.5")
    assert v10.per_class["plane"]["AP"] == 0.0  # only GT ignored -> npos 0 -> AP 0
    assert v15.per_class["plane"]["AP"] == pytest.approx(1.0)


def test_empty_inputs():
    result = evaluate("coco", [], [], CLASSES)
    assert all(v is None for v in result.metrics.values())
    assert evaluate("dota", [sample("a")], [None], CLASSES).metrics["mAP"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"detections": [None]}, "1 detection entries for 3 samples"),
        ({"detections": {"zzz": hdets([[0, 0, 1, 1]], [0.5], [0])}}, "'zzz'"),
        ({"detections": [hdets([[0, 0, 1, 1]], [0.5], [5]), None, None]}, "label 5"),
        ({"protocol": "voc"}, "unknown protocol 'voc'"),
        ({"protocol": "dota", "ap_mode": "area"}, "11-point only"),
        ({"protocol": "dota", "version": "3"}, "unknown DOTA version"),
    ],
)
def test_misuse_is_a_clear_error(kwargs, message):
    args = {"protocol": "dior", "samples": SAMPLES, "detections": [None] * 3, "classes": CLASSES}
    args.update(kwargs)
    with pytest.raises((EvaluationInputError, ValueError), match=message):
        evaluate(**args)


def test_result_json_uses_null_for_undefined_values():
    result = EvalResult("coco", {"AP": None, "AP50": math.nan}, {"ship": {"AP": 0.5}}, "AP")
    data = json.loads(result.to_json())
    assert data["metrics"] == {"AP": None, "AP50": None}
    assert data["per_class"] == {"ship": {"AP": 0.5}}
    assert result.score == 0.0
