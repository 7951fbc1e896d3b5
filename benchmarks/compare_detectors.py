"""TinyDet-M vs RS-TinyNet-n vs DCFL (CSP-n) on synthetic tiny vehicles, same budget.

Each variant is trained with rsdet's engine (``rsdet.pipelines.train.run_train``, i.e.
``rsdet train --recipe R --set ...``) from its packaged synthetic recipe, keeping the recipe's
optimiser, schedule shape, augmentation and EMA, with the *same* data and budget for all:
the same training scenes, window size, batch size, windows per epoch and epochs (so the same
number of iterations and of windows seen), the same warm-up and seed. ``last.pt`` is then
scored on *unseen* scenes (another synthetic seed) with the AI-TOD protocol (COCO-style AP
over IoU .5:.95, maxDets 1500, very tiny < 8 px / tiny 8-16 / small 16-32 / medium sizes),
every model at score >= 0.01.

Variants:
    tinydet-m          TinyDet-M (MobileNetV3-BC, strides 4-64, alignment pool on)
    tinydet-m-noalign  the same with the backbone's feature-alignment pool off
    rs_tinynet-n       RS-TinyNet-n (recipe ``rs_tinynet_synthetic``)
    dcfl-csp-n         DCFL, CSP-n backbone, 64-channel FPN and head (``dcfl_synthetic``);
                       oriented boxes, scored by their envelopes as AI-TOD does

Usage (one thread; the trainings run one after the other):
    python benchmarks/compare_detectors.py --seeds 0 --out runs/compare
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from rsdet.pipelines.train import TrainOptions, run_train

from rsdet.datasets.loader import load_dataset
from rsdet.engine.recipe import EvalConfig
from rsdet.engine.validate import detect_samples
from rsdet.evaluation import evaluate
from rsdet.models.zoo import load_network

TINYDET_M = [
    "model.config.backbone=mobilenetv3-bc",
    "model.config.strides=[4, 8, 16, 32, 64]",
    "model.config.fpn_groups=[49, 7, 5, 1, 1]",
]
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "tinydet-m": ("tinydet_synthetic", TINYDET_M),
    "tinydet-m-noalign": ("tinydet_synthetic", [*TINYDET_M, "model.config.backbone_align=false"]),
    "rs_tinynet-n": ("rs_tinynet_synthetic", []),
    "dcfl-csp-n": ("dcfl_synthetic", []),
}
METRICS = ("AP", "AP50", "APvt", "APt", "APs")


def budget(args: argparse.Namespace, seed: int, out: Path) -> list[str]:
    """The ``--set`` overrides every variant shares."""
    return [
        f"data.train=synthetic:?n={args.train_scenes}&size={args.scene}&seed=100&kind=vehicles",
        f"data.val=synthetic:?n=4&size={args.scene}&seed=101&kind=vehicles",
        f"data.tile_size={args.tile}",
        f"data.windows_per_epoch={args.windows}",
        f"batch_size={args.batch}",
        f"epochs={args.epochs}",
        f"seed={seed}",
        "schedule.warmup_iters=20",
        "eval.protocol=aitod",
        "eval.metric=AP50",
        f"eval.interval={args.epochs}",
        f"output.dir={out}",
        "workers=0",
        "device=cpu",
    ]


def score(run: Path, test: str) -> dict[str, float]:
    """AI-TOD metrics of ``run/last.pt`` on the unseen ``test`` scenes."""
    network, ckpt = load_network(run / "last.pt")
    samples = list(load_dataset(test).samples)
    config = EvalConfig(protocol="aitod", score_thr=0.01, max_det=1500)
    dets = detect_samples(network.eval(), ckpt.spec, samples, config, torch.device("cpu"))
    result = evaluate("aitod", samples, dets, ckpt.spec.classes)
    values = {k: result.metrics.get(k) for k in METRICS}  # None: no object of that size
    return {k: float("nan") if v is None else float(v) for k, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--train-scenes", type=int, default=16)
    parser.add_argument("--scene", type=int, default=256, help="scene side, px")
    parser.add_argument("--tile", type=int, default=128, help="training window side, px")
    parser.add_argument("--windows", type=int, default=96, help="windows per epoch")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--test", default="synthetic:?n=8&size=256&seed=102&kind=vehicles")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/compare"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    iters = args.epochs * (args.windows // args.batch)
    print(f"budget: {iters} iterations x {args.batch} windows of {args.tile} px; test {args.test}")
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in args.variants.split(","):
            recipe, sets = VARIANTS[name]
            run = args.out / f"{name}-s{seed}"
            start = time.perf_counter()
            opts = TrainOptions(
                recipe=recipe, sets=[*sets, *budget(args, seed, run)], overwrite=True, quiet=True
            )
            run_train(opts)
            train_s = time.perf_counter() - start
            row = {"variant": name, "seed": seed, "train_s": round(train_s, 1)}
            row.update(score(run, args.test))
            results.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"| variant | seed | train wall s | {' | '.join(METRICS)} |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for r in results:
        cells = " | ".join("-" if r[k] != r[k] else f"{100 * r[k]:.1f}" for k in METRICS)
        print(f"| {r['variant']} | {r['seed']} | {r['train_s']:.0f} | {cells} |")


if __name__ == "__main__":
    main()
