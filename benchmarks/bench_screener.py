"""The tile screener of ``rsdet detect``: tiles skipped, objects lost, wall time.

A synthetic scene (textured ground, bright small objects 6-16 px) where only ``--busy`` of the
grid cells hold objects (default 0.2: about 80 % of the tiles are empty). A TinyNet-CNN
screener is trained on object / empty tiles cut from ``--train-scenes`` other scenes of the
same kind (other seeds, half their cells busy), its threshold picked for 0.5 % tile loss on
its validation tiles, then:

* wall time of ``detect_to_file`` with a random-weight RS-TinyNet-n, with and without
  ``--screen`` (timing does not depend on the detector's weights);
* tiles screened out, and objects lost: objects not whole inside any tile the screener passed
  (with the overlap at least the largest object, each object is whole in some tile).

    python benchmarks/bench_screener.py [--size 4096] [--tile 256] [--thumb 64] [--busy 0.2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from _detect_common import _profile, report, tinynet_checkpoint
from rsdet.pipelines.detect_models import ModelRunner, load_runner
from rsdet.pipelines.detect_scene import DetectOptions, _open_scenes, _resolve, detect_to_file
from rsdet.pipelines.detect_units import plan_scene, run_batches

from rsdet.classify import (
    ClassifierConfig,
    TileSet,
    TrainConfig,
    save_classifier,
    stratified_split,
    train_classifier,
)
from rsdet.classify.screen import load_screener, pick_threshold
from rsdet.models.spec import Postprocess
from rsdet.structures import Detections


def make_scene(path: Path, size: int, cell: int, busy: float, seed: int) -> list[tuple]:
    """Write the scene; return its objects ``(row, col, h, w)``."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 160, (3, size // 32 + 2, size // 32 + 2)).astype(np.uint8)
    image = np.repeat(np.repeat(coarse, 32, axis=1), 32, axis=2)[:, :size, :size].copy()
    image += rng.integers(0, 20, image.shape, dtype=np.uint8)
    objects = []
    for r0 in range(0, size - cell + 1, cell):
        for c0 in range(0, size - cell + 1, cell):
            if rng.random() >= busy:
                continue
            for _ in range(rng.integers(1, 4)):
                h, w = rng.integers(6, 17, 2)
                r, c = r0 + rng.integers(0, cell - h), c0 + rng.integers(0, cell - w)
                image[:, r : r + h, c : c + w] = rng.integers(180, 255, (3, 1, 1))
                objects.append((int(r), int(c), int(h), int(w)))
    with rasterio.open(path, "w", **_profile(size, size, tiled=True)) as ds:
        ds.write(image)
    return objects


def cut_tiles(path: Path, objects: list[tuple], tile: int) -> TileSet:
    """Non-overlapping tiles labelled object when an object lies at least half inside."""
    with rasterio.open(path) as ds:
        image = np.moveaxis(ds.read(), 0, -1)
    images, labels = [], []
    for r0 in range(0, image.shape[0] - tile + 1, tile):
        for c0 in range(0, image.shape[1] - tile + 1, tile):
            has = any(
                max(0, min(r + h, r0 + tile) - max(r, r0))
                * max(0, min(c + w, c0 + tile) - max(c, c0))
                >= 0.5 * h * w
                for r, c, h, w in objects
            )
            images.append(image[r0 : r0 + tile, c0 : c0 + tile])
            labels.append(int(has))
    ids = tuple(str(i) for i in range(len(images)))
    return TileSet(np.stack(images), np.asarray(labels), ("empty", "object"), ids)


class Nothing(ModelRunner):
    """A detector that finds nothing (for counting what the screener passes)."""

    def run(self, batch: object, postprocess: Postprocess) -> list[Detections]:
        return [Detections.empty(False) for _ in batch]  # type: ignore[union-attr]


def passed_tiles(scene: Path, model: str, opts: DetectOptions) -> tuple[list, set[int]]:
    """The scene's tile windows and the tiles the screener passes."""
    infos = _open_scenes([scene], False)
    runner = load_runner(model, "cpu")
    run = _resolve(infos, runner, opts)
    plan = plan_scene(0, infos[0], runner, run)
    screened: set[int] = set()
    for record in run_batches(infos[0], plan, list(range(len(plan.batches))), Nothing(), run):
        screened |= set(record.screened)
    return plan.tiles.windows, set(plan.tiles.valid) - screened


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--thumb", type=int, default=64)
    ap.add_argument("--busy", type=float, default=0.2)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--train-scenes", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cell = args.tile - args.overlap
        # screener: trained on other scenes of the same kind, half their cells busy
        sets = []
        for seed in range(10, 10 + args.train_scenes):
            train_scene = root / f"train{seed}.tif"
            train_objects = make_scene(train_scene, args.size, cell, 0.5, seed=seed)
            sets.append(cut_tiles(train_scene, train_objects, args.tile))
        tiles = TileSet(
            np.concatenate([t.images for t in sets]),
            np.concatenate([t.labels for t in sets]),
            sets[0].classes,
            tuple(i for t in sets for i in t.ids),
        )
        fit, val = stratified_split(tiles.labels, 0.3, 0)
        config = ClassifierConfig("tinynet-cnn", args.thumb, widths=(16, 32, 64, 128))
        t0 = time.perf_counter()
        clf = train_classifier(config, tiles.take(fit), TrainConfig(epochs=args.epochs, batch=32))
        train_s = time.perf_counter() - t0
        p = clf.scores(tiles.images[val])[:, 1]
        clf.meta = {"screen_thr": pick_threshold(p, tiles.labels[val] == 1)}
        save_classifier(clf, root / "screener.pt")
        screener = load_screener(root / "screener.pt")
        # the scene to detect in
        scene = root / "scene.tif"
        objects = make_scene(scene, args.size, cell, args.busy, seed=2)
        model = tinynet_checkpoint(root / "det.pt", args.tile, args.overlap)
        plain = DetectOptions(args.tile, args.overlap, batch_size=4)
        screened = DetectOptions(args.tile, args.overlap, batch_size=4, screen=root / "screener.pt")
        detect_to_file([scene], root / "warm.gpkg", str(model), plain, device="cpu", quiet=True)
        t0 = time.perf_counter()
        a = detect_to_file([scene], root / "a.gpkg", str(model), plain, device="cpu", quiet=True)
        plain_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        b = detect_to_file([scene], root / "b.gpkg", str(model), screened, device="cpu", quiet=True)
        screen_s = time.perf_counter() - t0
        windows, passed = passed_tiles(scene, str(model), screened)
        lost = 0
        for r, c, h, w in objects:
            whole = [
                t
                for t, win in enumerate(windows)
                if win.row_off <= r
                and r + h <= win.row_off + win.height
                and win.col_off <= c
                and c + w <= win.col_off + win.width
            ]
            lost += not (set(whole) & passed)
        empty = sum(
            1
            for win in windows
            if not any(
                win.row_off <= r + h
                and r <= win.row_off + win.height
                and win.col_off <= c + w
                and c <= win.col_off + win.width
                for r, c, h, w in objects
            )
        )
        # screener cost per tile vs the detector's
        thumbs = np.stack([screener.thumbnail(np.moveaxis(im, -1, 0)) for im in tiles.images[:64]])
        t0 = time.perf_counter()
        screener.p_object(thumbs)
        screen_ms = 1000 * (time.perf_counter() - t0) / len(thumbs)
        report(
            scene_px=args.size,
            tiles=a.scenes[0].tiles,
            empty_tiles=empty,
            thumb_px=args.thumb,
            screener_train_s=round(train_s, 1),
            screen_thr=round(screener.threshold, 4),
            screener_val_tiles=len(val),
            screened=b.scenes[0].screened,
            objects=len(objects),
            objects_lost=lost,
            plain_s=round(plain_s, 2),
            screen_s=round(screen_s, 2),
            speedup=round(plain_s / screen_s, 2),
            screener_ms_per_tile=round(screen_ms, 2),
            detector_ms_per_tile=round(1000 * plain_s / a.scenes[0].tiles, 2),
            torch_threads=torch.get_num_threads(),
        )


if __name__ == "__main__":
    main()
