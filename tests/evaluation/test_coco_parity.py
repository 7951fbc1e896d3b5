"""coco / aitod agree with pycocotools and faster-coco-eval on generated data.

The generated data have no tied scores and every GT id >= 1 (the two conditions under
which the references are deterministic and correct), and include the awkward cases:
crowd GT, images without GT, images without detections, a class without detections, a
class without GT, more detections than the largest maxDets, and boxes whose area sits
exactly on the size-bin boundaries.
"""

import contextlib
import io

import numpy as np
import pytest
from faster_coco_eval import COCO as FCOCO
from faster_coco_eval import COCOeval_faster
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rsdet.evaluation import AITOD_PARAMS, COCO_PARAMS, CocoParams, evaluate_coco
from rsdet.evaluation.coco_eval import coco_tables
from rsdet.evaluation.coco_json import read_coco_gt, read_coco_results

# Sides whose squares are the bin edges of both protocols (8² = 64, 16², 32², 96²), with
# neighbours just inside / outside them.
EDGE_SIDES = [8.0, 16.0, 32.0, 96.0, 7.999, 8.001, 31.99, 1.0, 400.0]


def _box(rng):
    if rng.random() < 0.3:
        side = float(rng.choice(EDGE_SIDES))
        return [float(rng.integers(0, 600)), float(rng.integers(0, 600)), side, side]
    s = float(np.exp(rng.uniform(np.log(1.5), np.log(300))))
    return [*rng.uniform(0, 600, 2).tolist(), s * rng.uniform(0.5, 1.5), s * rng.uniform(0.5, 1.5)]


def _jitter(rng, box):
    x, y, w, h = box
    j = rng.normal(0, 0.12, 4)
    return [x + j[0] * w, y + j[1] * h, w * np.exp(j[2]), h * np.exp(j[3])]


def make_coco(seed, n_img=40, crowded_image_dets=0):
    """COCO dict + results list; categories 1..5; category 5 has GT but no detections,
    category 4 has detections but no GT; images 3 and 4 have no GT, image 5 no dets."""
    rng = np.random.default_rng(seed)
    images = [{"id": 10 + 3 * i, "file_name": f"im{i}.png"} for i in range(n_img)]
    cats = [{"id": c, "name": f"class{c}"} for c in (1, 2, 3, 4, 5)]
    anns, dets = [], []
    for i, im in enumerate(images):
        boxes = []
        n_gt = 0 if i in (3, 4) else int(rng.integers(1, 25))
        for _ in range(n_gt):
            cat = int(rng.choice([1, 2, 3, 5]))
            box = _box(rng)
            crowd = int(rng.random() < 0.08)
            area = (
                box[2] * box[3] if rng.random() < 0.8 else box[2] * box[3] * rng.uniform(0.6, 1.1)
            )
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": im["id"],
                    "category_id": cat,
                    "bbox": box,
                    "area": float(area),
                    "iscrowd": crowd,
                }
            )
            boxes.append((box, cat))
        n_det = 0 if i == 5 else int(rng.integers(0, 60))
        if i == 7:
            n_det = crowded_image_dets
        for _ in range(n_det):
            if boxes and rng.random() < 0.7:
                box, cat = boxes[rng.integers(len(boxes))]
                box = _jitter(rng, box)
                cat = 4 if rng.random() < 0.05 else (cat if cat != 5 else 1)
            else:
                box, cat = _box(rng), int(rng.choice([1, 2, 3, 4]))
            dets.append({"image_id": im["id"], "category_id": cat, "bbox": [float(v) for v in box]})
    scores = rng.permutation(len(dets)) / max(len(dets), 1) + 1e-3  # distinct scores
    for det, score in zip(dets, scores, strict=True):
        det["score"] = float(score)
    return {"images": images, "annotations": anns, "categories": cats}, dets


def _pycoco(gt_dict, dets, params: CocoParams):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes([dict(d) for d in dets]), "bbox")
        ev.params.maxDets = list(params.max_dets)
        ev.params.areaRng = [[r.low, r.high] for r in params.area_ranges]
        ev.params.areaRngLbl = [r.label or "all" for r in params.area_ranges]
        ev.evaluate()
        ev.accumulate()
    return ev.eval


def _mean(values):
    values = values[values > -1]
    return float(np.mean(values)) if values.size else None


def reference_summary(precision, recall, params: CocoParams):
    """The reported metrics from reference arrays (pycocotools' _summarize arithmetic,
    but with the last maxDets everywhere: summarize() itself hard-codes 100)."""
    m = len(params.max_dets) - 1
    out = {
        "AP": _mean(precision[:, :, :, 0, m]),
        "AP50": _mean(precision[:1, :, :, 0, m]),  # iouThrs[0] == 0.5
        "AP75": _mean(precision[5:6, :, :, 0, m]),  # iouThrs[5] == 0.75
    }
    for a, rng in enumerate(params.area_ranges[1:], start=1):
        out[f"AP{rng.label}"] = _mean(precision[:, :, :, a, m])
    for j, cap in enumerate(params.max_dets):
        out[f"AR{cap}"] = _mean(recall[:, :, 0, j])
    for a, rng in enumerate(params.area_ranges[1:], start=1):
        out[f"AR{rng.label}"] = _mean(recall[:, :, a, m])
    return out


def _ours(tmp_path, gt_dict, dets, params):
    import json

    (tmp_path / "gt.json").write_text(json.dumps(gt_dict))
    (tmp_path / "pred.json").write_text(json.dumps(dets))
    gt_file = read_coco_gt(tmp_path / "gt.json")
    ours = read_coco_results(tmp_path / "pred.json", gt_file)
    return gt_file.gt, ours


@pytest.mark.parametrize("params", [COCO_PARAMS, AITOD_PARAMS], ids=lambda p: p.name)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_pycocotools(tmp_path, params, seed):
    crowded = params.max_dets[-1] + 30  # one image with more detections than the cap
    gt_dict, dets = make_coco(seed, crowded_image_dets=crowded)
    ref = _pycoco(gt_dict, dets, params)
    gt, ours = _ours(tmp_path, gt_dict, dets, params)

    tables = coco_tables(gt, ours, params)
    np.testing.assert_allclose(tables.precision, ref["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(tables.recall, ref["recall"], rtol=0, atol=1e-12)

    result = evaluate_coco(gt, ours, params)
    expected = reference_summary(ref["precision"], ref["recall"], params)
    assert list(result.metrics) == list(params.metric_names())
    for name, value in expected.items():
        assert result.metrics[name] == pytest.approx(value, abs=1e-12), name
    for k, cat in enumerate(gt_dict["categories"]):
        ref_ap = _mean(ref["precision"][:, :, k, 0, -1])
        ours_ap = result.per_class[cat["name"]]["AP"]
        assert (ours_ap is None) == (ref_ap is None), cat["name"]
        if ref_ap is not None:
            assert ours_ap == pytest.approx(ref_ap, abs=1e-12), cat["name"]
    # The awkward classes behave as COCO says: no GT -> undefined; no detections -> 0.
    assert result.per_class["class4"]["AP"] is None
    assert result.per_class["class5"]["AP"] == 0.0


@pytest.mark.parametrize("params", [COCO_PARAMS, AITOD_PARAMS], ids=lambda p: p.name)
def test_matches_faster_coco_eval(tmp_path, params):
    gt_dict, dets = make_coco(3, crowded_image_dets=params.max_dets[-1] + 5)
    ranges = {r.label: [r.low, r.high] for r in params.area_ranges[1:]}
    gt = FCOCO(gt_dict)
    ev = COCOeval_faster(
        gt,
        gt.loadRes([dict(d) for d in dets]),
        "bbox",
        ranges=ranges,
        print_function=lambda *a: None,
    )
    ev.params.maxDets = list(params.max_dets)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    gt_arrays, ours = _ours(tmp_path, gt_dict, dets, params)
    result = evaluate_coco(gt_arrays, ours, params)
    ref = ev.stats_as_dict
    pairs = {"AP": "AP_all", "AP50": "AP_50", "AP75": "AP_75"}
    pairs |= {f"AP{r}": f"AP_{r}" for r in ranges} | {f"AR{r}": f"AR_{r}" for r in ranges}
    # faster-coco-eval keeps its legacy labels for the default caps 1/10/100.
    cap_labels = (
        ["AR_all", "AR_second", "AR_third"]
        if params.max_dets == (1, 10, 100)
        else [f"AR_{m}" for m in params.max_dets]
    )
    pairs |= {f"AR{m}": label for m, label in zip(params.max_dets, cap_labels, strict=True)}
    for ours_key, ref_key in pairs.items():
        assert result.metrics[ours_key] == pytest.approx(ref[ref_key], abs=1e-9), ours_key
