"""A synthetic scene as a GeoTIFF with vector labels, and a fake base model, for finetune tests."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
import torch
from rasterio.transform import from_origin

from rsdet.config import to_dict
from rsdet.models.checkpoint import Checkpoint, write_checkpoint
from rsdet.models.spec import InputSpec, ModelSpec
from rsdet.structures import Sample
from rsdet.synthetic import make_scene
from tests.engine.fake_network import ARCH, FakeConfig, FakeNet

ORIGIN_X, ORIGIN_Y, RES = 500000.0, 4000000.0, 0.3  # UTM 33N, 30 cm
UTM = "EPSG:32633"


def to_map(polygons: np.ndarray) -> list[shapely.Polygon]:
    """(N, 4, 2) pixel outlines -> UTM polygons."""
    xs, ys = ORIGIN_X + polygons[..., 0] * RES, ORIGIN_Y - polygons[..., 1] * RES
    return [shapely.Polygon(np.stack([x, y], -1)) for x, y in zip(xs, ys, strict=True)]


def write_geotiff(path: Path, image: np.ndarray, crs: str | None = UTM) -> Path:
    """(H, W, C) uint8 pixels on the test grid."""
    h, w, c = image.shape
    profile = dict(driver="GTiff", height=h, width=w, count=c, dtype="uint8",
                   transform=from_origin(ORIGIN_X, ORIGIN_Y, RES, RES))  # fmt: skip
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.moveaxis(image, -1, 0))
    return path


def write_vectors(path: Path, geoms: list, crs: str | None = "EPSG:4326", **columns) -> Path:
    """UTM polygons written in ``crs`` (None: a file without a CRS)."""
    frame = gpd.GeoDataFrame(columns, geometry=list(geoms), crs=UTM)
    frame = frame.set_crs(None, allow_override=True) if crs is None else frame.to_crs(crs)
    frame.to_file(path)
    return path


def labelled_scene(tmp: Path, size: int = 256, seed: int = 3) -> tuple[Path, Path, Sample]:
    """A synthetic vehicles scene with every object labelled (labels in WGS 84)."""
    sample = make_scene(seed, size, "vehicles")
    assert sample.image is not None
    scene = write_geotiff(tmp / "scene.tif", sample.image)
    labels = write_vectors(tmp / "labels.gpkg", to_map(sample.polygons))
    return scene, labels, sample


def fake_base_model(path: Path, seed: int = 0, classes: tuple[str, ...] = ("vehicle",)) -> Path:
    """An untrained fake network as a base checkpoint (fixed 0-255 RGB input)."""
    torch.manual_seed(seed)
    cfg = FakeConfig(num_classes=len(classes), width=8)
    net = FakeNet(cfg)
    spec = ModelSpec(arch=ARCH, classes=classes, input=InputSpec(), tile_size=128, overlap=16,
                     score_thr=0.3, description="fake base")  # fmt: skip
    write_checkpoint(path, Checkpoint(spec, to_dict(cfg), net.deploy().state_dict(), {}))
    return path
