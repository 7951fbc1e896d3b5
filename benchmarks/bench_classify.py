"""Compare the ``rsdet classify`` family on two offline tile datasets; print a table.

1. ``kinds``: 64 px tiles cut from synthetic scenes, labelled by scene kind
   (trees / vehicles / mixed).
2. ``objects``: ``synthetic:?kind=vehicles`` scenes cut into 64 px object / empty tiles.

    python benchmarks/bench_classify.py [--scenes 4] [--epochs 10] [--inception]

Accuracy is on a stratified 30 % held-out split (seed 0); ms/image is scoring time.
"""

from __future__ import annotations

import argparse
import time

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
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread")
    run("kinds", kinds_dataset(args.scenes), args.epochs, args.inception)
    spec = f"synthetic:?n={2 * args.scenes}&size=256&kind=vehicles&tile=64"
    run("objects", load_tiles(spec, 64), args.epochs, args.inception)


if __name__ == "__main__":
    main()
