"""DOTA Task 1 result files from a trained oriented detector, the way DCFL's test script makes them.

Each full image is cut into ``--tile`` windows with ``--gap`` overlap (DOTA_devkit's split:
1024 / 200, the last window pulled back inside the image), every window is detected with the
model's own post-processing (DCFL: top 2000 per level, score 0.05, class-aware NMS 0.4, 2000
per window), the detections are shifted to image pixels and merged with per-class rotated
NMS at IoU ``--merge-iou`` (0.1, mmrotate's ``DOTADataset._merge_func``; no cap). The output
folder holds ``Task1_<class>.txt`` with lines ``imgname score x1 y1 x2 y2 x3 y3 x4 y4``: zip it
for the DOTA server (test split), or score it locally (val split):

    python benchmarks/dcfl_dota_submission.py --model runs/dcfl_dota1/best.pt \
        --data dota:data/DOTA/val --out results/dcfl_dota1_val
    rsdet eval --protocol dota --gt data/DOTA/val --pred results/dcfl_dota1_val
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from rsdet.datasets import load_dataset
from rsdet.datasets.pixels import open_image
from rsdet.io.radiometry import scale_to_unit
from rsdet.merge import shift_to_scene
from rsdet.models.zoo import load_model
from rsdet.structures import Detections, batched_nms
from rsdet.tiling import tile_grid


def detect_image(detector, reader, tile: int, gap: int, merge_iou: float) -> Detections:
    spec = detector.spec
    low, high = spec.input.fixed_range()
    bands = [b - 1 for b in spec.input.bands]
    parts = []
    for win in tile_grid(reader.height, reader.width, tile, gap):
        raw = reader.read_region(win.row_off, win.col_off, win.height, win.width)[:, :, bands]
        x = scale_to_unit(np.moveaxis(raw, -1, 0), low, high)[None]
        parts.append(shift_to_scene(detector.predict_batch(x)[0], win))
    dets = Detections.cat(parts)
    keep = batched_nms(dets.boxes, dets.scores, dets.labels, merge_iou)
    return dets[keep]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="dota:PATH, dota1.5:PATH or dota2:PATH")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--gap", type=int, default=200)
    ap.add_argument("--merge-iou", type=float, default=0.1)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    detector = load_model(args.model, device=args.device)
    if detector.spec.input.scaling != "fixed":
        raise SystemExit("this script expects a model with fixed range scaling")
    dataset = load_dataset(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    lines: dict[int, list[str]] = {c: [] for c in range(len(detector.classes))}
    with torch.inference_mode():
        for i, sample in enumerate(dataset.samples):
            with open_image(sample) as reader:
                dets = detect_image(detector, reader, args.tile, args.gap, args.merge_iou)
            polys = dets.boxes.to_polygons().numpy()
            for poly, score, label in zip(
                polys, dets.scores.tolist(), dets.labels.tolist(), strict=True
            ):
                coords = " ".join(f"{v:.1f}" for v in poly)
                lines[label].append(f"{sample.image_id} {score:.4f} {coords}")
            print(f"{i + 1}/{len(dataset.samples)} {sample.image_id}: {len(dets)}", flush=True)
    for label, rows in lines.items():
        path = args.out / f"Task1_{detector.classes[label]}.txt"
        path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(lines)} files to {args.out}")


if __name__ == "__main__":
    main()
