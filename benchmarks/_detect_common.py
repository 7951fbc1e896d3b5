"""Shared pieces of the ``bench_detect*`` scripts: synthetic scenes and a real checkpoint."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine

from rsdet.models.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from rsdet.models.spec import InputSpec, ModelSpec

UTM = "EPSG:32633"
CLASSES = ("vehicle", "ship", "storage-tank")


def timed(fn: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB.

    Linux's VmHWM starts afresh at exec; ru_maxrss would also count the parent's memory at
    fork time (it survives execve), which matters for the child processes used here.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(**values: object) -> None:
    print(json.dumps(values), flush=True)


def textured_scene(path: Path, height: int, width: int, seed: int = 0, objects: int = 400) -> Path:
    """An RGB uint8 GeoTIFF (0.3 m, UTM 33N) with smooth texture and bright rectangles."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 160, (3, height // 32 + 2, width // 32 + 2)).astype(np.uint8)
    image = np.repeat(np.repeat(coarse, 32, axis=1), 32, axis=2)[:, :height, :width].copy()
    image += rng.integers(0, 20, image.shape, dtype=np.uint8)
    for _ in range(objects):
        r, c = rng.integers(0, height - 20), rng.integers(0, width - 20)
        h, w = rng.integers(4, 18, 2)
        image[:, r : r + h, c : c + w] = rng.integers(180, 255, (3, 1, 1))
    profile = _profile(height, width, tiled=True)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(image)
    return path


def constant_scene(
    path: Path, height: int, width: int, *, valid_fraction: float = 1.0, block: int = 1024
) -> Path:
    """A large, cheap scene written block by block: constant grey, deflate-compressed.

    ``valid_fraction < 1`` makes the rest nodata (0): only the first rows hold data.
    """
    profile = _profile(height, width, tiled=True, nodata=0 if valid_fraction < 1 else None)
    profile.update(blockxsize=512, blockysize=512)
    valid_rows = round(height * valid_fraction)
    with rasterio.open(path, "w", **profile) as ds:
        for row in range(0, height, block):
            h = min(block, height - row)
            value = 120 if row < valid_rows else 0
            data = np.full((3, h, width), value, dtype=np.uint8)
            if row < valid_rows < row + h:
                data[:, valid_rows - row :] = 0
            ds.write(data, window=rasterio.windows.Window(0, row, width, h))
    return path


def _profile(height: int, width: int, tiled: bool, nodata: float | None = None) -> dict:
    return dict(
        driver="GTiff",
        height=height,
        width=width,
        count=3,
        dtype="uint8",
        crs=UTM,
        transform=Affine(0.3, 0.0, 400_000.0, 0.0, -0.3, 4_500_000.0),
        tiled=tiled,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        nodata=nodata,
        BIGTIFF="IF_SAFER",
    )


def tinynet_checkpoint(
    path: Path, tile_size: int = 1024, overlap: int = 128, seed: int = 0
) -> Path:
    """A random-weight RS-TinyNet-n checkpoint (3 classes), written with write_checkpoint.

    Used only when no trained model is given: timing and memory do not depend on weights,
    although the number of detections (and so the merge work) does.
    """
    import torch

    from rsdet.config import to_dict
    from rsdet.models.rs_tinynet import RSTinyNetConfig, build_rs_tinynet

    torch.manual_seed(seed)
    config = RSTinyNetConfig(size="n", num_classes=len(CLASSES))
    net = build_rs_tinynet(config).deploy()
    spec = ModelSpec(
        arch="rs_tinynet",
        classes=CLASSES,
        input=InputSpec(bands=(1, 2, 3)),
        tile_size=tile_size,
        overlap=overlap,
        description="random weights, for benchmarks only",
    )
    write_checkpoint(path, Checkpoint(spec, to_dict(config), net.state_dict()))
    return path


def model_tiling(model: str) -> tuple[int, int]:
    """``(tile_size, overlap)`` stored in a checkpoint."""
    from rsdet.models.zoo import resolve_model_path

    spec = read_checkpoint(resolve_model_path(model)).spec
    return spec.tile_size, spec.overlap
