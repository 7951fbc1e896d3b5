"""Ground-truth miss-assignment ratio (TinyDet Table 2) of anchor layouts on a dataset.

For every layout, each image (optionally resized to ``--resize`` x ``--resize`` without
keeping the aspect ratio, as TinyDet's 320 x 320 inputs) gets the layout's anchors; the anchors
inside the image are assigned to the gt boxes with the RPN's max-IoU rule (0.5 / 0.3, a gt
claims its best anchors from 0.3), and a gt no anchor is positive for is *missed*
(rsdet.models.gtmr). Layouts:

* ``tinydet-s/m/l``: TinyDet's anchors (strides 8-64 or 4-64, scale 2.25 / 3.2 / 5.12 x stride,
  ratios 0.5 / 1 / 2), the rounding of mmdet v1 included;
* ``thundernet``: ThunderNet's 25 anchors on one stride-16 map (sides 32-512 px, ratios
  1:2, 3:4, 1:1, 4:3, 2:1), the sparse layout Table 2 compares against.

Bins: COCO sizes by box area (small < 32^2 <= medium < 96^2 <= large) and, for remote-sensing
data, AI-TOD's (very tiny < 8^2 <= tiny < 16^2 <= small < 32^2 <= medium)::

    python benchmarks/tinydet_gtmr.py --data "synthetic:?n=32&size=512&seed=0&kind=mixed"
    python benchmarks/tinydet_gtmr.py --data aitod:val.json?images=val --resize 320 --bins coco

``--scale 2.0`` adds TinyDet-M's layout with another anchor scale (``tinydet-m@2.0``).
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from rsdet.datasets import load_dataset
from rsdet.models.anchors import AnchorGenerator
from rsdet.models.gtmr import COCO_SIZES, gtmr
from rsdet.models.tinydet import SIZES
from rsdet.models.tinyrpn import RPNTrainConfig

AITOD_SIZES = {
    "all": (0.0, math.inf),
    "very_tiny": (0.0, 8.0**2),
    "tiny": (8.0**2, 16.0**2),
    "small": (16.0**2, 32.0**2),
    "medium": (32.0**2, math.inf),
}

LAYOUTS = {
    **{
        f"tinydet-{k}": AnchorGenerator(c.strides, (c.anchor_scale,), c.anchor_ratios)
        for k, c in SIZES.items()
    },
    "thundernet": AnchorGenerator((16,), (2.0, 4.0, 8.0, 16.0, 32.0), (0.5, 0.75, 1.0, 4 / 3, 2.0)),
}


def anchors_of(gen: AnchorGenerator):
    def fn(hw: tuple[int, int]) -> torch.Tensor:
        d = gen.strides[-1]
        h, w = -(-hw[0] // d) * d, -(-hw[1] // d) * d  # padded to the coarsest stride
        return torch.cat(gen([(h // s, w // s) for s in gen.strides]))

    return fn


def images(spec: str, resize: int | None):
    for sample in load_dataset(spec).samples:
        boxes = sample.hboxes().tensor.float()[~torch.as_tensor(sample.crowd, dtype=torch.bool)]
        hw = (sample.height, sample.width)
        if resize is not None:
            sy, sx = resize / sample.height, resize / sample.width
            boxes = boxes * torch.tensor([sx, sy, sx, sy])
            hw = (resize, resize)
        yield hw, boxes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="dataset spec (rsdet.datasets)")
    ap.add_argument("--resize", type=int, default=None, help="square network input (pixels)")
    ap.add_argument("--bins", choices=["coco", "aitod"], default="aitod")
    ap.add_argument("--scale", type=float, action="append", default=[], help="extra M scales")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    sizes = COCO_SIZES if args.bins == "coco" else AITOD_SIZES
    assigner = RPNTrainConfig().assigner()
    m = SIZES["m"]
    layouts = dict(LAYOUTS)
    for scale in args.scale:
        layouts[f"tinydet-m@{scale}"] = AnchorGenerator(m.strides, (scale,), m.anchor_ratios)
    out = {}
    for name, gen in layouts.items():
        result = gtmr(anchors_of(gen), images(args.data, args.resize), assigner, 0.0, sizes)
        out[name] = {"gtmr": result.ratio(), "total": result.total}
        row = "  ".join(f"{k} {100 * v:5.1f}%" for k, v in result.ratio().items())
        print(f"{name:12s} {row}   (gts: {result.total})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
