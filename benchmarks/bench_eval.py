"""Speed and parity of ``coco`` / ``aitod`` evaluation against pycocotools.

Generates an AI-TOD-like set (default 2,000 images of 800x800 px, 8 classes, ~100,000
detections, tiny objects, some crowd regions, distinct scores), then evaluates it with
rsdet and with pycocotools (same maxDets and size bins) in one run, and prints both times,
their ratio and the largest difference of every precision / recall entry and reported
metric. Reading the json files is timed separately from the evaluation itself.

    python benchmarks/bench_eval.py [--images 2000] [--dets 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rsdet.evaluation import AITOD_PARAMS, COCO_PARAMS, CocoParams, evaluate_coco
from rsdet.evaluation.coco_eval import coco_tables
from rsdet.evaluation.coco_json import read_coco_gt, read_coco_results


def generate(n_images: int, n_dets: int, seed: int) -> tuple[dict, list[dict]]:
    """COCO ground truth and results with tiny objects (log-uniform sides 2..64 px)."""
    rng = np.random.default_rng(seed)
    n_classes = 8
    images = [
        {"id": i + 1, "file_name": f"{i:05d}.png", "height": 800, "width": 800}
        for i in range(n_images)
    ]
    cats = [{"id": c + 1, "name": f"class{c + 1}"} for c in range(n_classes)]
    anns, dets = [], []
    det_per_image = rng.multinomial(n_dets, np.ones(n_images) / n_images)
    for image, n_det in zip(images, det_per_image, strict=True):
        n_gt = int(rng.integers(0, n_det + 1))  # about half as many objects as detections
        sides = np.exp(rng.uniform(np.log(2), np.log(64), (n_gt, 2)))
        xy = rng.uniform(0, 780, (n_gt, 2))
        labels = rng.integers(1, n_classes + 1, n_gt)
        crowd = rng.random(n_gt) < 0.01
        for k in range(n_gt):
            w, h = sides[k]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image["id"],
                    "category_id": int(labels[k]),
                    "bbox": [float(xy[k, 0]), float(xy[k, 1]), float(w), float(h)],
                    "area": float(w * h),
                    "iscrowd": int(crowd[k]),
                }
            )
        for _ in range(n_det):
            if n_gt and rng.random() < 0.6:
                k = int(rng.integers(n_gt))
                jit = rng.normal(0, 0.15, 4)
                w, h = sides[k] * np.exp(jit[2:])
                box = [xy[k, 0] + jit[0] * sides[k, 0], xy[k, 1] + jit[1] * sides[k, 1], w, h]
                label = (
                    int(labels[k]) if rng.random() < 0.9 else int(rng.integers(1, n_classes + 1))
                )
            else:
                w, h = np.exp(rng.uniform(np.log(2), np.log(64), 2))
                box = [*rng.uniform(0, 780, 2), w, h]
                label = int(rng.integers(1, n_classes + 1))
            dets.append(
                {"image_id": image["id"], "category_id": label, "bbox": [float(v) for v in box]}
            )
    scores = (rng.permutation(len(dets)) + 1) / (len(dets) + 1)  # distinct: no tie order issues
    for det, score in zip(dets, scores, strict=True):
        det["score"] = float(score)
    return {"images": images, "annotations": anns, "categories": cats}, dets


def run_pycocotools(gt_path: Path, dt_path: Path, params: CocoParams) -> tuple[dict, float, float]:
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(dt_path))
        t1 = time.perf_counter()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.maxDets = list(params.max_dets)
        ev.params.areaRng = [[r.low, r.high] for r in params.area_ranges]
        ev.params.areaRngLbl = [r.label or "all" for r in params.area_ranges]
        ev.evaluate()
        ev.accumulate()
        t2 = time.perf_counter()
    return ev.eval, t1 - t0, t2 - t1


def summary(precision: np.ndarray, recall: np.ndarray, params: CocoParams) -> dict[str, float]:
    def mean(v: np.ndarray) -> float:
        v = v[v > -1]
        return float(np.mean(v)) if v.size else -1.0

    m = len(params.max_dets) - 1
    out = {
        "AP": mean(precision[:, :, :, 0, m]),
        "AP50": mean(precision[:1, :, :, 0, m]),
        "AP75": mean(precision[5:6, :, :, 0, m]),
    }
    for a, r in enumerate(params.area_ranges[1:], start=1):
        out[f"AP{r.label}"] = mean(precision[:, :, :, a, m])
    for j, cap in enumerate(params.max_dets):
        out[f"AR{cap}"] = mean(recall[:, :, 0, j])
    for a, r in enumerate(params.area_ranges[1:], start=1):
        out[f"AR{r.label}"] = mean(recall[:, :, a, m])
    return out


def bench(gt_path: Path, dt_path: Path, params: CocoParams) -> None:
    t0 = time.perf_counter()
    gt_file = read_coco_gt(gt_path)
    dets = read_coco_results(dt_path, gt_file)
    t1 = time.perf_counter()
    result = evaluate_coco(gt_file.gt, dets, params)
    t_eval = time.perf_counter() - t1
    tables = coco_tables(gt_file.gt, dets, params)  # the raw arrays, for the parity check
    ref, ref_load, ref_eval = run_pycocotools(gt_path, dt_path, params)

    d_prec = float(np.abs(tables.precision - ref["precision"]).max())
    d_rec = float(np.abs(tables.recall - ref["recall"]).max())
    ref_metrics = summary(ref["precision"], ref["recall"], params)
    d_metric = max(abs((result.metrics[k] or -1.0) - v) for k, v in ref_metrics.items())
    print(f"[{params.name}] maxDets {params.max_dets}")
    print(f"  read json     rsdet {t1 - t0:7.2f} s   pycocotools {ref_load:7.2f} s")
    print(
        f"  evaluate      rsdet {t_eval:7.2f} s   pycocotools {ref_eval:7.2f} s   "
        f"speed-up x{ref_eval / t_eval:.1f}"
    )
    ours_total, ref_total = t1 - t0 + t_eval, ref_load + ref_eval
    print(
        f"  end to end    rsdet {ours_total:7.2f} s   pycocotools {ref_total:7.2f} s   "
        f"speed-up x{ref_total / ours_total:.1f}"
    )
    print(
        f"  parity: max |d precision| {d_prec:.3g}, max |d recall| {d_rec:.3g}, "
        f"max |d metric| {d_metric:.3g}"
    )
    print(f"  AP {result.metrics['AP']:.4f}  AP50 {result.metrics['AP50']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--dets", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gt, dets = generate(args.images, args.dets, args.seed)
    print(f"{len(gt['images'])} images, {len(gt['annotations'])} GT, {len(dets)} detections")
    with tempfile.TemporaryDirectory() as tmp:
        gt_path, dt_path = Path(tmp) / "gt.json", Path(tmp) / "pred.json"
        gt_path.write_text(json.dumps(gt))
        dt_path.write_text(json.dumps(dets))
        for params in (COCO_PARAMS, AITOD_PARAMS):
            bench(gt_path, dt_path, params)


if __name__ == "__main__":
    main()
