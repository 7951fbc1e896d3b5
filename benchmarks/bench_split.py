"""Timing and memory of the dataset readers and ``rsdet split`` on synthetic data.

Run: ``python benchmarks/bench_split.py [--scale 1]``. Writes its data under a temporary
folder and prints one JSON line per measurement (wall seconds, peak RSS of this process).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import cv2
import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin
from rsdet.pipelines.split import SplitParams, split_dataset

from rsdet.datasets import load_dataset


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _report(name: str, seconds: float, **extra: object) -> None:
    print(
        json.dumps(
            {"bench": name, "seconds": round(seconds, 3), "peak_rss_mb": round(_rss_mb()), **extra}
        )
    )


def _dota(root: Path, images: int, objects: int, size: int, rng: np.random.Generator) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labelTxt").mkdir()
    pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    for i in range(images):
        cv2.imwrite(str(root / "images" / f"P{i:04d}.png"), pixels)
        centres = rng.uniform(10, size - 10, (objects, 2))
        half = rng.uniform(2, 8, (objects, 2))
        lines = ["imagesource:GoogleEarth", "gsd:0.3"]
        for (cx, cy), (hw, hh) in zip(centres, half, strict=True):
            x1, y1, x2, y2 = cx - hw, cy - hh, cx + hw, cy + hh
            corners = (x1, y1, x2, y1, x2, y2, x1, y2)
            lines.append(" ".join(f"{v:.1f}" for v in corners) + " small-vehicle 0")
        (root / "labelTxt" / f"P{i:04d}.txt").write_text("\n".join(lines) + "\n")


def _geo(root: Path, side: int, objects: int, rng: np.random.Generator) -> None:
    root.mkdir(parents=True)
    transform = from_origin(500000, 4000000, 0.5, 0.5)
    profile = dict(
        driver="GTiff",
        height=side,
        width=side,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=transform,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    )
    with rasterio.open(root / "scene.tif", "w", **profile) as ds:
        block = rng.integers(0, 255, (3, 512, 512), dtype=np.uint8)
        for _, window in ds.block_windows(1):
            ds.write(block[:, : window.height, : window.width], window=window)
    centres = rng.uniform(20, side - 20, (objects, 2))
    crowns = []
    for cx, cy in centres:  # 24-vertex "crowns", radius 3-8 px
        r = rng.uniform(3, 8)
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        cols, rows = cx + r * np.cos(t), cy + r * np.sin(t) * 0.8
        crowns.append(shapely.Polygon(np.stack([500000 + cols * 0.5, 4000000 - rows * 0.5], -1)))
    gpd.GeoDataFrame({"class": ["Tree"] * objects}, geometry=crowns, crs="EPSG:32633").to_file(
        root / "scene.gpkg"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the data sizes")
    scale = parser.parse_args().scale
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        # Geo first: peak RSS then shows that a scene is split window by window.
        side = int(8000 * scale)
        _geo(tmp_path / "geo", side, int(20000 * scale), rng)
        t = time.perf_counter()
        ds = load_dataset(f"geo:{tmp_path / 'geo'}")
        _report(f"load geo {side}x{side} labels", time.perf_counter() - t, objects=ds.num_objects)
        t = time.perf_counter()
        r = split_dataset(
            f"geo:{tmp_path / 'geo'}", tmp_path / "geo_out", SplitParams(1024, 200), quiet=True
        )
        _report(
            f"split geo {side}x{side} uint8x3",
            time.perf_counter() - t,
            patches=r.patches,
            objects=r.objects,
        )

        n_images = int(200 * scale)
        _dota(tmp_path / "dota", n_images, 300, 800, rng)
        t = time.perf_counter()
        ds = load_dataset(f"dota:{tmp_path / 'dota'}")
        _report("load dota", time.perf_counter() - t, images=len(ds), objects=ds.num_objects)

        big = tmp_path / "big"
        _dota(big, 1, int(3000 * scale), 4000, rng)
        t = time.perf_counter()
        r = split_dataset(
            f"dota:{big}", tmp_path / "big_out", SplitParams(1024, 200, (1.0,)), quiet=True
        )
        _report(
            "split dota 4000x4000, rate 1",
            time.perf_counter() - t,
            patches=r.patches,
            objects=r.objects,
        )
        t = time.perf_counter()
        r = split_dataset(
            f"dota:{big}", tmp_path / "big_out", SplitParams(1024, 200, (1.0,)), quiet=True
        )
        _report("re-run (no-op)", time.perf_counter() - t, images_written=r.images_written)
        t = time.perf_counter()
        params = SplitParams(1024, 500, (0.5, 1.0, 1.5))
        r = split_dataset(f"dota:{big}", tmp_path / "ms_out", params, quiet=True)
        _report(
            "split dota 4000x4000, rates 0.5/1/1.5 gap 500",
            time.perf_counter() - t,
            patches=r.patches,
        )


if __name__ == "__main__":
    main()
