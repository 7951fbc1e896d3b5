"""Compare the ``rsdet classify`` family on two offline tile datasets; print a table.

1. ``kinds``: 64 px tiles cut from synthetic scenes, labelled by scene kind
   (trees / vehicles / mixed).
2. ``objects``: ``synthetic:?kind=vehicles`` scenes cut into 64 px object / empty tiles.
3. ``yell``: 64 px tiles of real tree canopy (the YELL crops in ``data/trees``, train and
   val) against synthetic grass / soil and water tiles: classes trees / ground / water.

    python benchmarks/bench_classify.py [--scenes 4] [--epochs 10] [--inception]
        [--datasets kinds,objects,yell]

Accuracy is on a stratified 30 % held-out split (seed 0); ms/image is scoring time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from rsdet.classify import (
    BoVWConfig,
    ClassifierConfig,
    TileSet,
    TrainConfig,
    load_tiles,
    score_report,
    stratified_split,
    train_classifier,
)
from rsdet.synthetic import make_scene

TREES = Path(__file__).resolve().parents[1] / "data" / "trees"


def kinds_dataset(scenes: int, tile: int = 64) -> TileSet:
    images, labels, ids = [], [], []
    kinds = ("trees", "vehicles", "mixed")
    for label, kind in enumerate(kinds):
        for seed in range(scenes):
            image = make_scene(1000 + seed, 256, kind).image
            assert image is not None
            for y in range(0, 256, tile):
                for x in range(0, 256, tile):
                    images.append(image[y : y + tile, x : x + tile])
                    labels.append(label)
                    ids.append(f"{kind}{seed}@{x},{y}")
    return TileSet(np.stack(images), np.asarray(labels), kinds, tuple(ids))


def yell_dataset(per_class: int, tile: int = 64, seed: int = 0) -> TileSet:
    """Tree canopy tiles from the two YELL crops; ground and water drawn at random."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    crops = [np.asarray(Image.open(png).convert("RGB")) for png in sorted(TREES.glob("*/*.png"))]
    trees = []
    for crop in crops:
        for y in range(0, crop.shape[0] - tile + 1, tile):
            for x in range(0, crop.shape[1] - tile + 1, tile):
                trees.append(crop[y : y + tile, x : x + tile])
    picked = [trees[i] for i in rng.choice(len(trees), per_class, replace=False)]
    ground = [_ground(rng, tile, water=False) for _ in range(per_class)]
    water = [_ground(rng, tile, water=True) for _ in range(per_class)]
    images = np.stack(picked + ground + water)
    labels = np.repeat(np.arange(3), per_class)
    ids = tuple(str(i) for i in range(len(images)))
    return TileSet(images, labels, ("trees", "ground", "water"), ids)


def _ground(rng: np.random.Generator, size: int, water: bool) -> np.ndarray:
    """(size, size, 3) uint8: grass / soil (coarse patches, grain) or water (dark, smooth)."""
    if water:
        base = rng.integers(20, 60, 3) * np.array([0.6, 0.9, 1.3])
        noise = rng.normal(0, 3, (size, size, 1))
    else:
        base = rng.integers(70, 150, 3) * np.array([1.1, 1.0, 0.8])
        coarse = rng.normal(0, 12, (size // 16 + 1, size // 16 + 1, 1))
        noise = np.repeat(np.repeat(coarse, 16, 0), 16, 1)[:size, :size]
        noise = noise + rng.normal(0, 6, (size, size, 1))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def models(inception: bool) -> list[tuple[str, ClassifierConfig]]:
    out = [
        ("bovw k=128 rbf", ClassifierConfig("bovw", 64, bovw=BoVWConfig(k=128, pca=64))),
        (
            "bovw k=128 intersection",
            ClassifierConfig("bovw", 64, bovw=BoVWConfig(k=128, kernel="intersection")),
        ),
        ("mlp 32 px", ClassifierConfig("mlp", 32)),
        ("tinynet-cnn std", ClassifierConfig("tinynet-cnn", 64)),
        (
            "tinynet-cnn dw 16-128",
            ClassifierConfig("tinynet-cnn", 64, widths=(16, 32, 64, 128), depthwise=True),
        ),
        ("tinynet-e 64 px", ClassifierConfig("tinynet-e", 64)),
    ]
    if inception:
        out.append(("inception-v3 96 px", ClassifierConfig("inception-v3", 96)))
    return out


def run(name: str, data: TileSet, epochs: int, inception: bool) -> None:
    fit, held = stratified_split(data.labels, 0.3, seed=0)
    print(f"\n{name}: {len(fit)} train / {len(held)} test tiles, classes {data.classes}")
    print(f"{'model':<26} {'accuracy':>8} {'loss':>7} {'train s':>8} {'ms/image':>9}")
    for label, config in models(inception):
        start = time.perf_counter()
        clf = train_classifier(config, data.take(fit), TrainConfig(epochs=epochs, batch=16))
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        scores = clf.scores(data.images[held])
        r = score_report(scores, data.labels[held], data.classes, time.perf_counter() - start)
        ms = 1000 * r.seconds_per_image
        print(f"{label:<26} {r.accuracy:>8.3f} {r.loss:>7.3f} {train_s:>8.1f} {ms:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=4, help="scenes per kind / dataset")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--inception", action="store_true", help="also InceptionV3 (slow)")
    parser.add_argument("--datasets", default="kinds,objects,yell")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread")
    datasets = args.datasets.split(",")
    if "kinds" in datasets:
        run("kinds", kinds_dataset(args.scenes), args.epochs, args.inception)
    if "objects" in datasets:
        spec = f"synthetic:?n={2 * args.scenes}&size=256&kind=vehicles&tile=64"
        run("objects", load_tiles(spec, 64), args.epochs, args.inception)
    if "yell" in datasets:
        run("yell", yell_dataset(16 * args.scenes), args.epochs, args.inception)


if __name__ == "__main__":
    main()
