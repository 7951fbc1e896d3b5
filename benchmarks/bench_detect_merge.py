"""Cross-tile merge time for 10^4 to 10^6 detections (goal: about linear, seconds at 10^6).

Detections are spread over a scene at a fixed density (about 400 per 1024 x 1024 tile), a
tenth of them flagged as edge fragments, and every object is seen twice (a jittered copy
from the neighbouring tile), so the merge has real work: half the boxes go.

Run: ``python benchmarks/bench_detect_merge.py [--sizes 1e4,1e5,1e6] [--oriented]``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from _detect_common import report

from rsdet.merge import merge_detections
from rsdet.structures import Detections, HBoxes, RBoxes

DENSITY = 400 / 1024**2  # objects per square pixel


def synthetic(n: int, oriented: bool, rng: np.random.Generator) -> tuple[Detections, np.ndarray]:
    objects = n // 2
    side = math.sqrt(objects / DENSITY)
    centre = rng.uniform(0, side, (objects, 2))
    size = rng.uniform(6, 30, (objects, 2))
    centre = np.concatenate([centre, centre + rng.normal(0, 0.5, centre.shape)])
    size = np.concatenate([size, size * rng.uniform(0.95, 1.05, size.shape)])
    scores = torch.from_numpy(rng.uniform(0.05, 1.0, len(centre)))
    labels = torch.from_numpy(rng.integers(0, 5, len(centre)))
    boxes: HBoxes | RBoxes
    if oriented:
        angle = np.tile(rng.uniform(-np.pi / 2, np.pi / 2, objects), 2)[:, None]
        boxes = RBoxes(torch.from_numpy(np.concatenate([centre, size, angle], axis=1)))
    else:
        boxes = HBoxes(torch.from_numpy(np.concatenate([centre - size / 2, centre + size / 2], 1)))
    return Detections(boxes, scores, labels), rng.uniform(size=len(centre)) < 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e4,1e5,1e6")
    parser.add_argument("--oriented", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    for n in (int(float(s)) for s in args.sizes.split(",")):
        dets, fragment = synthetic(n, args.oriented, rng)
        start = time.perf_counter()
        kept = merge_detections(dets, fragment)
        seconds = time.perf_counter() - start
        report(
            bench="detect_merge",
            detections=len(dets),
            oriented=args.oriented,
            kept=len(kept),
            seconds=round(seconds, 3),
            us_per_detection=round(1e6 * seconds / len(dets), 2),
        )


if __name__ == "__main__":
    main()
