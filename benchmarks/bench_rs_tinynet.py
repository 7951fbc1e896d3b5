"""Size and CPU speed of RS-TinyNet: parameters, FLOPs and milliseconds per tile.

For every requested size (and, with ``--ablation``, every MDCA / PFDH switch of the first
size) this builds the network with seed 0, deploys it (drops the ARB branch), and measures
on one zero-filled ``--tile`` x ``--tile`` RGB tile:

* parameters of the deployed network, and of the training network (ARB included);
* FLOPs = 2 x multiply-adds of convolutions and matrix products (rsdet.models.flops);
* CPU latency: eval mode, ``torch.inference_mode``, ``--threads`` threads, ``--warmup``
  untimed runs, then the median (and min / max) of ``--runs`` timed runs. The time includes
  decoding and NMS, which find nothing on an untrained network;
* the same latency as ``rsdet detect`` runs the network: BatchNorm folded into the convs
  (``load_model`` does it) and channels-last input (the CPU reader thread lays batches out so).

Run it when the machine is otherwise idle; the numbers are per tile, batch 1::

    python benchmarks/bench_rs_tinynet.py --sizes n,s,m --threads 2 --runs 7
    python benchmarks/bench_rs_tinynet.py --sizes n --ablation --json bench.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import torch

from rsdet.models.flops import count_flops, count_parameters
from rsdet.models.layers import fuse_conv_bn
from rsdet.models.rs_tinynet import RSTinyNet, RSTinyNetConfig, build_rs_tinynet
from rsdet.models.spec import Postprocess


def measure(cfg: RSTinyNetConfig, tile: int, runs: int, warmup: int) -> dict[str, object]:
    torch.manual_seed(0)
    model = build_rs_tinynet(cfg)
    train_params = count_parameters(model)
    model.deploy().eval()
    flops = count_flops(model, tile, tile, cfg.in_channels)
    x = torch.zeros(1, cfg.in_channels, tile, tile)
    times = _latency_ms(model, x, runs, warmup)
    params = count_parameters(model)
    fuse_conv_bn(model)
    loaded = _latency_ms(model, x.contiguous(memory_format=torch.channels_last), runs, warmup)
    return {
        "size": cfg.size,
        "mdca": cfg.mdca,
        "pfdh": cfg.pfdh,
        "params_deployed": params,
        "params_training": train_params,
        "gflops": flops / 1e9,
        "ms_median": statistics.median(times),
        "ms_min": min(times),
        "ms_max": max(times),
        "ms_loaded_median": statistics.median(loaded),
    }


def _latency_ms(model: RSTinyNet, x: torch.Tensor, runs: int, warmup: int) -> list[float]:
    post = Postprocess()  # as rsdet detect runs it: the forward, then decoding and NMS
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            start = time.perf_counter()
            model.detect(x, post)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="n,s", help="comma-separated sizes (n, s, m)")
    parser.add_argument("--tile", type=int, default=1024, help="tile edge, pixels")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per network")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--ablation", action="store_true", help="MDCA / PFDH on-off costs")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    configs = [RSTinyNetConfig(size=s) for s in args.sizes.split(",")]
    if args.ablation:
        first = configs[0]
        for mdca, pfdh in ((False, True), (True, False), (False, False)):
            configs.append(replace(first, mdca=mdca, pfdh=pfdh))
    rows = [measure(cfg, args.tile, args.runs, args.warmup) for cfg in configs]

    print(f"tile {args.tile} x {args.tile}, {args.threads} threads, median of {args.runs}")
    print(
        "| size | MDCA | PFDH | params (deployed) | params (training) | GFLOPs | CPU ms "
        "| CPU ms as rsdet detect runs it |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']} | {'on' if r['mdca'] else 'off'} | {'on' if r['pfdh'] else 'off'} "
            f"| {r['params_deployed'] / 1e6:.2f} M | {r['params_training'] / 1e6:.2f} M "
            f"| {r['gflops']:.1f} | {r['ms_median']:.0f} ({r['ms_min']:.0f}-{r['ms_max']:.0f}) "
            f"| {r['ms_loaded_median']:.0f} |"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
