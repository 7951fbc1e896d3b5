"""TinyDet-S/M/L next to RS-TinyNet-n/s and DCFL at the same input: params, FLOPs, CPU time.

Every network is built with seed 0 and the same number of classes (``--classes``), deployed
(RS-TinyNet drops its training-only branch) and run as ``rsdet detect`` runs it
(``rsdet.load_model``): eval mode, BatchNorm folded into the convolutions, channels-last
input, ``torch.inference_mode``. One ``--size`` x ``--size`` RGB tile of noise, batch 1,
``--threads`` torch threads; after one untimed warm-up, the median of ``--runs`` timed calls of
``network.detect`` (forward, decoding and NMS with each model's default post-processing; an
untrained network finds little, so NMS costs little). "CPU s" is process CPU time, which a
busy machine inflates less than "wall s".

FLOPs are rsdet's convention (2 x multiply-adds of convolutions and matrix products,
:func:`rsdet.models.flops.count_flops`); "GMACs" are the multiply-adds the TinyDet and TinyNet
papers call FLOPs. TinyDet's R-CNN is counted, and timed, for its 200 RoIs. TinyDet-L is
TinyDet-M with larger anchors: at the same input it costs the same.

Usage (about a minute on one core):
    python benchmarks/bench_detectors.py --size 1024 --runs 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from typing import Any, Literal

import torch

from rsdet.models.contract import DetectorNetwork
from rsdet.models.dcfl import DCFLConfig, build_dcfl
from rsdet.models.flops import count_flops, count_parameters
from rsdet.models.layers import fuse_conv_bn
from rsdet.models.rs_tinynet import RSTinyNetConfig, build_rs_tinynet
from rsdet.models.spec import Postprocess
from rsdet.models.tinydet import SIZES, build_tinydet


def build(name: str, classes: int) -> DetectorNetwork[Any]:
    """The named network, deployed, in eval mode, BatchNorm not yet folded."""
    torch.manual_seed(0)
    network: DetectorNetwork[Any]
    if name.startswith("tinydet-"):
        network = build_tinydet(replace(SIZES[name[-1]], num_classes=classes), load_weights=False)
    elif name in ("rs_tinynet-n", "rs_tinynet-s"):
        size: Literal["n", "s"] = "n" if name == "rs_tinynet-n" else "s"
        network = build_rs_tinynet(RSTinyNetConfig(num_classes=classes, size=size))
    elif name == "dcfl-csp-n-64":
        cfg = DCFLConfig(num_classes=classes, backbone="csp-n", neck_channels=64, feat_channels=64)
        network = build_dcfl(cfg)
    elif name == "dcfl-r18-128":
        cfg = DCFLConfig(
            num_classes=classes, backbone="resnet18", neck_channels=128, feat_channels=128
        )
        network = build_dcfl(cfg)
    else:
        raise SystemExit(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    return network.deploy().eval()


MODELS = (
    "tinydet-s",
    "tinydet-m",
    "tinydet-l",
    "rs_tinynet-n",
    "rs_tinynet-s",
    "dcfl-csp-n-64",
    "dcfl-r18-128",
)


def measure(name: str, size: int, classes: int, runs: int) -> dict[str, Any]:
    network = build(name, classes)
    params = count_parameters(network)
    flops = count_flops(network, size, size, 3)
    fuse_conv_bn(network)
    x = torch.randn(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    post = Postprocess()
    cpu, wall = [], []
    with torch.inference_mode():
        network.detect(x, post)  # warm-up
        for _ in range(runs):
            c0, w0 = time.process_time(), time.perf_counter()
            network.detect(x, post)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    return {
        "model": name,
        "params_M": params / 1e6,
        "gflops": flops / 1e9,
        "gmacs": flops / 2e9,
        "cpu_s": statistics.median(cpu),
        "wall_s": statistics.median(wall),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default=",".join(MODELS), help="comma-separated subset")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--classes", type=int, default=15)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    print(f"| model | params | GFLOPs @ {args.size} | GMACs | CPU s per tile | wall s |")
    print("|---|---|---|---|---|---|")
    for name in args.only.split(","):
        r = measure(name, args.size, args.classes, args.runs)
        rows.append(r)
        print(
            f"| {name} | {r['params_M']:.2f} M | {r['gflops']:.1f} | {r['gmacs']:.2f} "
            f"| {r['cpu_s']:.3f} | {r['wall_s']:.3f} |",
            flush=True,
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
