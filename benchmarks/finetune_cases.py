"""Write ``rsdet finetune`` test cases: a scene GeoTIFF, 30 labelled crowns and their AOI block.

1. ``yell``: the validation strip (bottom quarter, never trained on) of the larger NEON YELL
   crop (``data/trees/val``, made by ``python -m rsdet.pipelines.prepare_trees``). The PNG
   has no georeferencing: it is placed on a nominal 10 cm UTM 12N grid at the NEON tile's
   corner, which changes nothing but lets it be a GeoTIFF.
2. ``synthetic``: the trees of a 1024 px ``synthetic`` scene of kind ``mixed`` at its own
   0.5 m GSD (a kind the default model never saw: small crowns among buildings, roads,
   vehicles, ships; ``rsdet detect`` and ``rsdet finetune`` resample it 5x to the model's
   10 cm).

In both, the AOI is the square at the top-left corner of the scene holding ``--crowns``
crowns by centre; the labels are exactly those crowns (no class attribute, in WGS 84, so
they are reprojected).

    python benchmarks/finetune_cases.py OUT [--crowns 30]
    rsdet finetune OUT/yell/scene.tif OUT/yell/labels.gpkg --aoi OUT/yell/aoi.gpkg \\
        --minutes 5 --out OUT/yell/tuned.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin

from rsdet.datasets import load_dataset
from rsdet.datasets.pixels import read_image
from rsdet.structures import Sample
from rsdet.synthetic import make_scene

ORIGIN, CRS = (528000.0, 4978000.0), "EPSG:32612"  # NEON YELL tile, UTM 12N


def write_case(out: Path, image: np.ndarray, sample: Sample, crowns: int, res: float) -> None:
    """scene.tif (``res`` m pixels), labels.gpkg and aoi.gpkg (the top-left square)."""
    out.mkdir(parents=True, exist_ok=True)
    h, w, c = image.shape
    transform = from_origin(*ORIGIN, res, res)
    with rasterio.open(out / "scene.tif", "w", driver="GTiff", height=h, width=w, count=c,
                       dtype="uint8", crs=CRS, transform=transform) as ds:  # fmt: skip
        ds.write(np.moveaxis(image, -1, 0))
    reach = sample.polygons.mean(axis=1).max(axis=1)  # a centre is in the square [0, s)²
    order = np.argsort(reach)
    right = (reach[order[crowns - 1]] + reach[order[crowns]]) / 2
    chosen = sample.polygons[order[:crowns]]

    def to_map(xy: np.ndarray) -> np.ndarray:
        return np.stack([ORIGIN[0] + xy[:, 0] * res, ORIGIN[1] - xy[:, 1] * res], -1)

    labels = [shapely.Polygon(to_map(p)) for p in chosen]
    gpd.GeoDataFrame(geometry=labels, crs=CRS).to_crs("EPSG:4326").to_file(out / "labels.gpkg")
    block = shapely.Polygon(to_map(np.array([[0, 0], [right, 0], [right, right], [0, right]])))
    gpd.GeoDataFrame(geometry=[block], crs=CRS).to_file(out / "aoi.gpkg")
    print(f"{out}: {w}x{h} px, {len(sample)} crowns, {crowns} labelled in [0, {right:.0f}) px²")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--crowns", type=int, default=30)
    args = parser.parse_args()
    val = load_dataset("voc:data/trees/val")
    yell = max(val.samples, key=lambda s: s.height * s.width)
    write_case(args.out / "yell", read_image(yell), yell, args.crowns, 0.1)
    scene = make_scene(7, 1024, "mixed")
    assert scene.image is not None
    trees = scene.subset(scene.labels == scene.meta["classes"].index("tree"))
    write_case(args.out / "synthetic", scene.image, trees, args.crowns, 0.5)


if __name__ == "__main__":
    main()
