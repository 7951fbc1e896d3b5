"""Transfer proxy for a tree-crown model: the held-out YELL quarter as other sensors see it.

No image from another site may be used for tuning (they are kept for independent testing),
so transfer is estimated on the held-out part of the training site rendered under fixed,
seeded sensor shifts (colour casts, gamma, haze, coarser sensors resampled to the model's
GSD, other crown sizes, blur, noise, JPEG), plus false positives on synthetic scenes with no
trees at all (meadow, sand, bare soil, water, shadows, logs and shrubs).

    OMP_NUM_THREADS=1 python benchmarks/bench_trees_transfer.py --model trees \
        [--model runs/x/best.pt] [--data voc:data/trees/val] [--json out.json]

Prints one JSON line per model: AP50 per condition (``aitod`` protocol, as training
validates), their mean over the shifted conditions (``proxy_mean``), the F1-best score
threshold on the plain held-out data, and false positives per hectare on the empty scenes
at the model's own threshold and at the F1-best one.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from rsdet.datasets import load_dataset
from rsdet.datasets.pixels import open_image
from rsdet.engine.recipe import EvalConfig
from rsdet.engine.threshold import best_f1_threshold
from rsdet.engine.validate import detect_samples
from rsdet.evaluation import evaluate
from rsdet.models.checkpoint import read_checkpoint, write_checkpoint
from rsdet.models.zoo import load_network, resolve_model_path
from rsdet.structures import Sample
from rsdet.synthetic.canvas import Canvas
from rsdet.synthetic.ground import fields, grass, litter
from rsdet.synthetic.shapes import blob, noise

EVAL = EvalConfig(protocol="aitod", score_thr=0.01, max_det=1500, max_size=2048)
Render = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # (H, W, 3) float 0-255


def _gain(r: float, g: float, b: float) -> Render:
    return lambda im, rng: im * np.array([r, g, b], np.float32)


def _gamma(gamma: float) -> Render:
    return lambda im, rng: 255.0 * (np.clip(im, 0, 255) / 255.0) ** gamma


def _haze(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Low contrast and a grey-blue veil (atmosphere, a flat sensor response)."""
    return 0.6 * im + 0.4 * np.array([150.0, 155.0, 165.0], np.float32)


def _sensor(gsd_m: float, model_gsd: float = 0.1) -> Render:
    """Seen by a ``gsd_m`` sensor, then resampled to the model's GSD (as detect does)."""

    def render(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = im.shape[:2]
        f = model_gsd / gsd_m
        small = cv2.resize(im, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    return render


def _blur(sigma: float) -> Render:
    return lambda im, rng: cv2.GaussianBlur(im, (0, 0), sigma)


def _noise(std: float) -> Render:
    return lambda im, rng: im + rng.normal(0, std, im.shape).astype(np.float32)


def _jpeg(quality: int) -> Render:
    def render(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u8 = np.clip(im, 0, 255).astype(np.uint8)
        _, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, quality])
        back = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        assert back is not None, "OpenCV could not decode its own JPEG"
        return back.astype(np.float32)

    return render


def _chain(*steps: Render) -> Render:
    def render(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in steps:
            im = np.clip(step(im, rng), 0, 255)
        return im

    return render


# name -> (render, zoom): zoom resizes image and boxes (other crown sizes at the same GSD).
CONDITIONS: dict[str, tuple[Render | None, float]] = {
    "plain": (None, 1.0),
    "warm_cast": (_gain(1.15, 1.0, 0.8), 1.0),
    "cool_cast": (_gain(0.85, 1.0, 1.2), 1.0),
    "green_dull": (_chain(_gain(0.9, 1.1, 0.9), _gamma(1.3)), 1.0),
    "bright_gamma": (_gamma(0.6), 1.0),
    "dark_gamma": (_gamma(1.6), 1.0),
    "haze": (_haze, 1.0),
    "sensor_20cm": (_sensor(0.2), 1.0),
    "sensor_30cm": (_sensor(0.3), 1.0),
    "blur_1.5px": (_blur(1.5), 1.0),
    "noise_10": (_noise(10.0), 1.0),
    "jpeg_30": (_jpeg(30), 1.0),
    "crowns_x0.6": (None, 0.6),
    "crowns_x1.6": (None, 1.6),
    "combined": (
        _chain(_gain(1.1, 1.0, 0.85), _gamma(0.8), _sensor(0.2), _noise(6.0), _jpeg(50)),
        1.0,
    ),
}


def render_samples(samples: list[Sample], name: str) -> list[Sample]:
    """``samples`` under condition ``name``, in memory (uint8 RGB), seeded by the name."""
    render, zoom = CONDITIONS[name]
    out = []
    for k, s in enumerate(samples):
        with open_image(s) as reader:
            im = reader.read_region(0, 0, reader.height, reader.width)[..., :3]
        im = im.astype(np.float32)
        rng = np.random.default_rng([k, sum(map(ord, name))])
        if render is not None:
            im = np.clip(render(im, rng), 0, 255)
        h, w = s.height, s.width
        if zoom != 1.0:
            h, w = round(s.height * zoom), round(s.width * zoom)
            im = cv2.resize(
                im, (w, h), interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR
            )
        scale = (w / s.width, h / s.height)
        pixels = np.round(im).astype(np.uint8)
        out.append(
            replace(
                s, image=pixels, image_path=None, height=h, width=w, polygons=s.polygons * scale
            )
        )
    return out


def empty_scene(seed: int, size: int = 1000, gsd: float = 0.1) -> Sample:
    """A treeless ``size`` px scene at ``gsd``: meadow or fields, sand, water, shadows, litter."""
    rng = np.random.default_rng([7, seed])
    cv = Canvas(size, size, gsd, rng, margin=0, masks=False, kind="trees")
    (grass if seed % 2 == 0 else fields)(cv)
    for _ in range(3):  # sand and bare-soil patches, 5-25 m
        c, tone = rng.uniform(0, size, 2), rng.uniform(0.75, 1.05)
        sand = (205 * tone, 190 * tone, 150 * tone)
        cv.paint(blob(c[0], c[1], cv.m(rng.uniform(5, 25)), rng, 0.1), sand, rng.uniform(0.7, 1))
    c = rng.uniform(0, size, 2)  # a pond
    cv.paint(blob(c[0], c[1], cv.m(rng.uniform(6, 15)), rng, 0.05), (40, 60, 70))
    # broad soft shadows (clouds, terrain, buildings out of the picture), not crown-shaped
    centres = rng.uniform(0, size, (4, 2))
    shadows = [blob(x, y, cv.m(rng.uniform(8, 20)), rng, 0.3) for x, y in centres]
    cv.darken(shadows, (0.55, 0.55, 0.6), soft=8.0)
    litter(cv, logs=30, shrubs=200)
    cv.img *= (1 + 0.06 * noise(rng, size, size, cv.m(3), 2))[..., None]  # ripples, grain
    image = np.clip(cv.img, 0, 255).round().astype(np.uint8)
    return Sample(f"empty_{seed}", size, size, np.zeros((0, 4, 2)), np.zeros(0), image=image)


def measure(model: str, data: str, empty: int) -> dict[str, object]:
    """Every number of the module docstring for one model."""
    torch.set_grad_enabled(False)
    network, ckpt = load_network(model)
    network.eval()
    spec, device = ckpt.spec, torch.device("cpu")
    val = list(load_dataset(data).samples)
    ap50: dict[str, float] = {}
    t0 = time.perf_counter()
    for name in CONDITIONS:
        samples = render_samples(val, name)
        dets = detect_samples(network, spec, samples, EVAL, device)
        ap50[name] = round(evaluate("aitod", samples, dets, spec.classes).metrics["AP50"] or 0, 3)
        if name == "plain":
            f1 = best_f1_threshold(samples, dets)
    shifted = [v for k, v in ap50.items() if k != "plain"]
    scenes = [empty_scene(s) for s in range(empty)]
    fp_dets = detect_samples(network, spec, scenes, EVAL, device)
    hectares = sum(s.height * s.width for s in scenes) * (spec.input.gsd_m or 0.1) ** 2 / 1e4

    def fp_per_ha(thr: float) -> float:
        return round(sum(int((d.scores >= thr).sum()) for d in fp_dets) / hectares, 1)

    return {
        "model": model, "ap50": ap50, "proxy_mean": round(float(np.mean(shifted)), 3),
        "proxy_min": min(shifted), "score_thr": spec.score_thr,
        "f1_best": {"score_thr": round(f1.score_thr, 3), "f1": round(f1.f1, 3),
                    "precision": round(f1.precision, 3), "recall": round(f1.recall, 3)},
        "fp_per_ha_at_model_thr": fp_per_ha(spec.score_thr),
        "fp_per_ha_at_f1_thr": fp_per_ha(f1.score_thr),
        "empty_hectares": hectares, "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="checkpoint or packaged name")
    parser.add_argument("--data", default="voc:data/trees/val")
    parser.add_argument("--empty", type=int, default=4, help="treeless 1 ha scenes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--calibrate", type=Path, help="write the first model here with its F1-best score_thr"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --calibrate's file")
    args = parser.parse_args()
    results = [measure(m, args.data, args.empty) for m in args.model or ["trees"]]
    for r in results:
        print(json.dumps(r), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.calibrate:
        calibrate(results[0], args.data, args.calibrate, args.overwrite)


def calibrate(result: dict[str, Any], data: str, out: Path, overwrite: bool = False) -> None:
    """Copy the checkpoint to ``out`` with the F1-best threshold as its default.

    The proxy numbers go into its provenance, so ``rsdet info`` shows them with the model.
    """
    if out.exists() and not overwrite:
        raise SystemExit(f"{out}: exists; pass --overwrite to replace it")
    ckpt = read_checkpoint(resolve_model_path(str(result["model"])))
    best = result["f1_best"]
    thr = round(float(best["score_thr"]), 3)
    ckpt.provenance["score_thr"] = (
        f"{thr:g}: F1-best on {data} (F1 {best['f1']}, precision {best['precision']},"
        f" recall {best['recall']}, IoU 0.5)"
    )
    ckpt.provenance["transfer"] = {
        "heldout_AP50": result["ap50"]["plain"],
        "proxy_mean_AP50": result["proxy_mean"],
        "proxy_min_AP50": result["proxy_min"],
        "empty_scene_fp_per_ha": result["fp_per_ha_at_f1_thr"],
        "bench": "benchmarks/bench_trees_transfer.py",
        "never_seen": "other sites, broadleaf or urban trees, other seasons, real other sensors",
    }
    spec = replace(ckpt.spec, score_thr=thr)
    write_checkpoint(out, replace(ckpt, spec=spec, train_state=None))  # inference only


if __name__ == "__main__":
    assert math.isfinite(EVAL.score_thr)
    main()
