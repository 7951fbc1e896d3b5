"""The tile screener of ``rsdet detect``: tiles skipped, objects lost, AP50, wall time.

Side by side in one run, scenes where 50 % and 80 % of the grid cells are empty:

* ``synthetic``: textured ground with bright small objects 6-16 px; 256 px tiles, 32 px
  overlap; a random-weight RS-TinyNet-n as the detector (timing does not depend on weights,
  so AP50 is not measured there);
* ``yell``: 448 px windows of the YELL *val* crops (real tree crowns, 10 cm) on synthetic
  grass / soil / water cells; 512 px tiles, 64 px overlap; the trained ``trees`` model, so
  AP50 against the scene's trees is measured with and without the screener.

A TinyNet-CNN screener per kind is trained on tiles of other data (synthetic: three other
scenes, half their cells busy; yell: four scenes built the same way from the YELL *train*
crops), its threshold picked for 0.5 % tile loss on its validation tiles. Reported per
scene: tiles screened out, objects lost (objects not whole inside any tile the screener
passed), AP50 with and without, wall time of ``detect_to_file`` with and without
``--screen`` (after a warm-up run; the faster of two runs each, alternating: the machine is
shared), the screener's looks per tile (the reads that make the thumbnails, and scoring)
and its scoring alone, against the detector's time per tile (the plain run's wall time per
tile).

    OMP_NUM_THREADS=1 python benchmarks/bench_screener.py [--kinds synthetic,yell]
        [--empty 0.5,0.8] [--thumb 128] [--size 4096] [--cells 12] [--overviews]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import rasterio
import torch
from _detect_common import _profile, report, tinynet_checkpoint
from affine import Affine
from rasterio.enums import Resampling
from rsdet.pipelines.detect_models import ModelRunner, load_runner
from rsdet.pipelines.detect_plan import thumbnail_reader
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
from rsdet.classify.screen import pick_threshold
from rsdet.evaluation.voc_ap import average_precision
from rsdet.io.prefetch import Prefetcher
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


# --- YELL-derived scenes: real tree crowns on synthetic land / water ----------------------
TREES = Path(__file__).resolve().parents[1] / "data" / "trees"
TREES_MODEL = Path(__file__).resolve().parents[1] / "rsdet" / "weights" / "trees.pt"
GSD = 0.1  # m, as the YELL crops and the trees model
OVERVIEWS = False  # --overviews: test scenes get 2x / 4x overviews
BLOCK = 3  # cells per side of a forest / open-ground block
REPEATS = 2  # timed runs of each kind, alternating; the fastest counts (shared machine)


def voc_boxes(xml: Path) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 pixel boxes of a VOC file."""
    root = ET.parse(xml).getroot()
    rows = []
    for box in root.iter("bndbox"):
        rows.append([float(box.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax")])
    return np.asarray(rows, np.float64).reshape(-1, 4)


def yell_crops(split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The split's YELL images (H, W, 3) uint8 with their tree boxes."""
    from PIL import Image

    out = []
    for png in sorted((TREES / split).glob("*.png")):
        image = np.asarray(Image.open(png).convert("RGB"))
        out.append((image, voc_boxes(png.with_suffix(".xml"))))
    return out


def land_or_water(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8 empty ground: grass / bare soil, or water (no trees)."""
    if rng.random() < 0.5:  # water: dark, smooth, slight ripple
        base = rng.integers(20, 60, 3) * np.array([0.6, 0.9, 1.3])
        noise = rng.normal(0, 3, (size, size, 1))
    else:  # grass / soil: coarse patches and fine grain
        base = rng.integers(70, 150, 3) * np.array([1.1, 1.0, 0.8])
        coarse = rng.normal(0, 12, (size // 16 + 1, size // 16 + 1, 1))
        noise = np.repeat(np.repeat(coarse, 16, 0), 16, 1)[:size, :size]
        noise = noise + rng.normal(0, 6, (size, size, 1))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def tree_patch(
    rng: np.random.Generator, crops: list[tuple[np.ndarray, np.ndarray]], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A random (size, size) window of a YELL crop (flipped at random) and its boxes inside."""
    crops = [c for c in crops if min(c[0].shape[:2]) >= size]
    image, boxes = crops[rng.integers(len(crops))]
    r = int(rng.integers(0, image.shape[0] - size + 1))
    c = int(rng.integers(0, image.shape[1] - size + 1))
    patch = image[r : r + size, c : c + size]
    b = boxes - np.array([c, r, c, r])
    clipped = np.clip(b, 0, size)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    clipped = clipped[inside >= 0.5 * area]
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
        clipped = np.stack(
            [size - clipped[:, 2], clipped[:, 1], size - clipped[:, 0], clipped[:, 3]], 1
        )
    return np.ascontiguousarray(patch), clipped.reshape(-1, 4)


def yell_scene(path: Path, cells: int, cell: int, busy: float, seed: int, split: str) -> np.ndarray:
    """Write a (cells x cell)^2 px scene; return its tree boxes (N, 4) in scene pixels.

    Forest comes in blocks of BLOCK x BLOCK cells (exactly ``busy`` of the blocks, rounded),
    land and water in the others: trees of a busy cell reach into the next tile only at
    a block's edge, as at the edge of a real forest.
    """
    rng = np.random.default_rng(seed)
    crops = yell_crops(split)
    size = cells * cell
    image = np.zeros((size, size, 3), np.uint8)
    boxes = []
    nb = -(-cells // BLOCK)
    forest = np.zeros(nb * nb, bool)
    forest[rng.permutation(nb * nb)[: round(busy * nb * nb)]] = True
    for i in range(cells):
        for j in range(cells):
            r, c = i * cell, j * cell
            if forest[(i // BLOCK) * nb + j // BLOCK]:
                patch, b = tree_patch(rng, crops, cell)
                boxes.append(b + np.array([c, r, c, r]))
            else:
                patch = land_or_water(rng, cell)
            image[r : r + cell, c : c + cell] = patch
    profile = _profile(size, size, tiled=True)
    profile["transform"] = Affine(GSD, 0.0, 500_000.0, 0.0, -GSD, 4_978_000.0)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.moveaxis(image, -1, 0))
    return np.concatenate(boxes) if boxes else np.zeros((0, 4))


def yell_tiles(root: Path, cells: int, tile: int, scenes: int) -> TileSet:
    """Screener training tiles: scenes built as the test scenes, from the *train* crops.

    Non-overlapping ``tile`` px tiles, "object" when a tree lies at least half inside.
    """
    sets = []
    for seed in range(20, 20 + scenes):
        path = root / f"yell-train{seed}.tif"
        boxes = yell_scene(path, cells, 448, 0.5, seed=seed, split="train")
        objects = [(y0, x0, y1 - y0, x1 - x0) for x0, y0, x1, y1 in boxes]
        sets.append(cut_tiles(path, objects, tile))
    return TileSet(
        np.concatenate([t.images for t in sets]),
        np.concatenate([t.labels for t in sets]),
        sets[0].classes,
        tuple(i for t in sets for i in t.ids),
    )


def ap50(gpkg: Path, truth: np.ndarray, scene: Path) -> float:
    """AP at IoU 0.5 (all-point VOC) of the layer's boxes against ``truth`` (scene pixels)."""
    import pyogrio

    with rasterio.open(scene) as ds:
        inverse = ~ds.transform
    frame = pyogrio.read_dataframe(gpkg, layer=gpkg.stem)
    if len(frame) == 0:
        return 0.0
    b = frame.geometry.bounds.to_numpy()
    c0, r0 = inverse * (b[:, 0], b[:, 3])
    c1, r1 = inverse * (b[:, 2], b[:, 1])
    dets = np.stack([c0, r0, c1, r1], 1)[np.argsort(-frame["score"].to_numpy())]
    used = np.zeros(len(truth), bool)
    tp = np.zeros(len(dets))
    for k, d in enumerate(dets):
        ix = np.clip(np.minimum(d[2], truth[:, 2]) - np.maximum(d[0], truth[:, 0]), 0, None)
        iy = np.clip(np.minimum(d[3], truth[:, 3]) - np.maximum(d[1], truth[:, 1]), 0, None)
        inter = ix * iy
        union = (
            (d[2] - d[0]) * (d[3] - d[1])
            + (truth[:, 2] - truth[:, 0]) * (truth[:, 3] - truth[:, 1])
            - inter
        )
        iou = np.where(used, 0.0, inter / np.maximum(union, 1e-9))
        if len(iou) and iou.max() >= 0.5:
            used[int(iou.argmax())] = True
            tp[k] = 1
    ctp = np.cumsum(tp)
    recall = ctp / max(len(truth), 1)
    precision = ctp / np.arange(1, len(dets) + 1)
    return float(average_precision(recall, precision, "area"))


def passed_tiles(scene: Path, model: str, opts: DetectOptions) -> tuple[list, set[int], tuple]:
    """The scene's tile windows, the tiles the screener passes, its cost in s per tile.

    The cost: the looks alone (the reads that make the thumbnails, and scoring; without
    overviews a look is the full read, which the detector reuses for kept tiles), and
    the scoring alone.
    """
    infos = _open_scenes([scene], False)
    runner = load_runner(model, "cpu")
    run = _resolve(infos, runner, opts)
    plan = plan_scene(0, infos[0], runner, run)
    assert run.screen is not None
    todo = list(range(len(plan.batches)))
    reader = thumbnail_reader(infos[0], run.bands[0], plan.tiles, plan.batches, run.screen)
    t0, scoring = time.perf_counter(), 0.0
    with Prefetcher(reader, todo, 2) as stream:
        for looks in stream:
            t1 = time.perf_counter()
            run.screen.keep(looks.thumbs)
            scoring += time.perf_counter() - t1
    n = len(plan.tiles.valid)
    cost = ((time.perf_counter() - t0) / n, scoring / n)
    screened: set[int] = set()
    for record in run_batches(infos[0], plan, todo, Nothing(), run):
        screened |= set(record.screened)
    return plan.tiles.windows, set(plan.tiles.valid) - screened, cost


def train_screener(tiles: TileSet, thumb: int, epochs: int, path: Path) -> dict:
    """Train and save a TinyNet-CNN screener; its threshold picked on 30 % held out."""
    fit, val = stratified_split(tiles.labels, 0.3, 0)
    config = ClassifierConfig("tinynet-cnn", thumb, widths=(16, 32, 64, 128))
    t0 = time.perf_counter()
    clf = train_classifier(config, tiles.take(fit), TrainConfig(epochs=epochs, batch=32))
    train_s = time.perf_counter() - t0
    p = clf.scores(tiles.images[val])[:, 1]
    clf.meta = {"screen_thr": pick_threshold(p, tiles.labels[val] == 1)}
    save_classifier(clf, path)
    return {"train_s": round(train_s, 1), "val_tiles": len(val), "thr": clf.meta["screen_thr"]}


def lost_objects(windows: list, passed: set[int], boxes: np.ndarray) -> tuple[int, int]:
    """Objects (x0, y0, x1, y1) not whole in any passed tile; tiles touching no object."""
    lost = 0
    for x0, y0, x1, y1 in boxes:
        whole = {
            t
            for t, w in enumerate(windows)
            if w.row_off <= y0
            and y1 <= w.row_off + w.height
            and w.col_off <= x0
            and x1 <= w.col_off + w.width
        }
        lost += not (whole & passed)
    empty = sum(
        1
        for w in windows
        if not any(
            w.row_off <= y1
            and y0 <= w.row_off + w.height
            and w.col_off <= x1
            and x0 <= w.col_off + w.width
            for x0, y0, x1, y1 in boxes
        )
    )
    return lost, empty


def compare(
    root: Path,
    name: str,
    scene: Path,
    model: str,
    tiling: tuple,
    screen: Path,
    truth: np.ndarray,
    with_ap: bool,
) -> dict:
    """Plain vs screened ``detect_to_file`` on one scene: the report row."""
    if OVERVIEWS:  # the screener's decimated reads then come from the 2x / 4x levels
        with rasterio.open(scene, "r+") as ds:
            ds.build_overviews([2, 4], Resampling.average)
    plain = DetectOptions(*tiling, batch_size=4)
    screened = DetectOptions(*tiling, batch_size=4, screen=screen)
    out = {k: root / f"{name}-{k}.gpkg" for k in ("warm", "a", "b")}
    detect_to_file([scene], out["warm"], model, plain, device="cpu", quiet=True)
    plain_s = screen_s = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        a = detect_to_file(
            [scene], out["a"], model, plain, device="cpu", quiet=True, overwrite=True
        )
        plain_s = min(plain_s, time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = detect_to_file(
            [scene], out["b"], model, screened, device="cpu", quiet=True, overwrite=True
        )
        screen_s = min(screen_s, time.perf_counter() - t0)
    windows, passed, cost = passed_tiles(scene, model, screened)
    lost, empty = lost_objects(windows, passed, truth)
    tiles = a.scenes[0].tiles
    row = {
        "tiles": tiles,
        "empty_tiles": empty,
        "screened": b.scenes[0].screened,
        "objects": len(truth),
        "objects_lost": lost,
        "plain_s": round(plain_s, 2),
        "screen_s": round(screen_s, 2),
        "speedup": round(plain_s / screen_s, 2),
        "look_ms_per_tile": round(1000 * cost[0], 2),
        "score_ms_per_tile": round(1000 * cost[1], 2),
        "detector_ms_per_tile": round(1000 * plain_s / tiles, 1),
    }
    if with_ap:
        row["ap50_plain"] = round(ap50(out["a"], truth, scene), 4)
        row["ap50_screen"] = round(ap50(out["b"], truth, scene), 4)
    return row


def synthetic_rows(root: Path, args: argparse.Namespace) -> None:
    cell = 256 - 32
    sets = []
    for seed in range(10, 13):
        train_scene = root / f"train{seed}.tif"
        sets.append(
            cut_tiles(train_scene, make_scene(train_scene, args.size, cell, 0.5, seed), 256)
        )
    tiles = TileSet(
        np.concatenate([t.images for t in sets]),
        np.concatenate([t.labels for t in sets]),
        sets[0].classes,
        tuple(i for t in sets for i in t.ids),
    )
    info = train_screener(tiles, args.thumb, args.epochs, root / "syn-screener.pt")
    model = str(tinynet_checkpoint(root / "det.pt", 256, 32))
    for empty in args.empty:
        scene = root / f"syn{empty}.tif"
        objects = make_scene(scene, args.size, cell, 1 - empty, seed=2)
        truth = np.asarray([(c, r, c + w, r + h) for r, c, h, w in objects], np.float64)
        row = compare(
            root,
            f"syn{empty}",
            scene,
            model,
            (256, 32),
            root / "syn-screener.pt",
            truth,
            with_ap=False,
        )
        report(kind="synthetic", empty_cells=empty, thumb_px=args.thumb, screener=info, **row)


def yell_rows(root: Path, args: argparse.Namespace) -> None:
    tiles = yell_tiles(root, args.cells, 512, args.yell_train_scenes)
    info = train_screener(tiles, args.thumb, args.epochs, root / "yell-screener.pt")
    for empty in args.empty:
        scene = root / f"yell{empty}.tif"
        truth = yell_scene(scene, args.cells, 448, 1 - empty, seed=3, split="val")
        row = compare(
            root,
            f"yell{empty}",
            scene,
            str(TREES_MODEL),
            (512, 64),
            root / "yell-screener.pt",
            truth,
            with_ap=True,
        )
        report(kind="yell", empty_cells=empty, thumb_px=args.thumb, screener=info, **row)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kinds", default="synthetic,yell")
    ap.add_argument("--empty", default="0.5,0.8", help="shares of empty cells")
    ap.add_argument("--size", type=int, default=4096, help="synthetic scene edge, px")
    ap.add_argument("--cells", type=int, default=12, help="yell scene: cells of 448 px per side")
    ap.add_argument("--thumb", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--yell-train-scenes", type=int, default=4)
    ap.add_argument("--overviews", action="store_true", help="build 2x / 4x overviews")
    args = ap.parse_args()
    global OVERVIEWS
    OVERVIEWS = args.overviews
    args.empty = [float(e) for e in args.empty.split(",")]
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        kinds = args.kinds.split(",")
        if "synthetic" in kinds:
            synthetic_rows(root, args)
        if "yell" in kinds:
            yell_rows(root, args)
    report(torch_threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
