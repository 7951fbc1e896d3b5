"""Size and speed of DCFL per backbone: parameters, FLOPs and CPU time for one 1024x1024 tile.

FLOPs are 2 x multiply-adds as counted by ``torch.utils.flop_counter.FlopCounterMode`` over one
eval-mode forward (backbone, FPN, head; the DCN's bilinear sampling, decoding and NMS are not
multiply-adds and are not counted, but their time is in the timings). "CPU s" is the median
process CPU time of ``--runs`` forwards after one warm-up (the FLOP-counting pass), with
``--threads`` torch threads; "wall s" the median wall time (inflated on a busy machine).

Usage:
    python benchmarks/bench_dcfl.py                      # all configurations, 1 thread
    python benchmarks/bench_dcfl.py --only csp-n-64 --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from rsdet.models.dcfl import DCFLConfig, build_dcfl
from rsdet.models.spec import Postprocess

CONFIGS = {
    # The paper: ResNet-50, 256-channel FPN and head (DOTA-v1.0: 15 classes, dilation 4).
    "resnet50-256": DCFLConfig(num_classes=15, backbone="resnet50", dilation=4),
    "resnet18-256": DCFLConfig(num_classes=15, backbone="resnet18", dilation=4),
    "resnet18-128": DCFLConfig(
        num_classes=15, backbone="resnet18", neck_channels=128, feat_channels=128
    ),
    # The CPU configuration of the synthetic recipe.
    "csp-n-64": DCFLConfig(num_classes=15, backbone="csp-n", neck_channels=64, feat_channels=64),
}


def measure(cfg: DCFLConfig, size: int, runs: int) -> dict[str, float]:
    model = build_dcfl(cfg).eval()
    model_post = Postprocess(score_thr=0.05, iou_thr=0.4, max_det=2000)  # DCFL's DOTA test
    x = torch.randn(1, 3, size, size)
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            model(x)
        cpu, wall = [], []
        for _ in range(runs):
            c0, w0 = time.process_time(), time.perf_counter()
            model.detect(x, model_post)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    return {
        "params_M": params / 1e6,
        "gflops": counter.get_total_flops() / 1e9,
        "cpu_s_per_tile": statistics.median(cpu),
        "wall_s_per_tile": statistics.median(wall),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default=None, help="comma-separated subset of " + ", ".join(CONFIGS))
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = args.only.split(",") if args.only else list(CONFIGS)
    rows = {}
    print(f"{'config':14s} {'params (M)':>10s} {'GFLOPs':>9s} {'CPU s':>7s} {'wall s':>7s}")
    for name in names:
        r = measure(CONFIGS[name], args.size, args.runs)
        rows[name] = r
        print(
            f"{name:14s} {r['params_M']:10.2f} {r['gflops']:9.1f} "
            f"{r['cpu_s_per_tile']:7.2f} {r['wall_s_per_tile']:7.2f}"
        )
    print(f"({args.size}x{args.size} input, {args.threads} thread(s), torch {torch.__version__})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
