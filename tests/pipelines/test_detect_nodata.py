"""Scenes with irregular nodata footprints: no detection lies mostly on nodata."""

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.features import rasterize
from rsdet.pipelines.detect_scene import detect_scene
from scipy import ndimage
from shapely.geometry import Polygon

from rsdet.io.validity import MIN_VALID_FRACTION, box_valid_fraction
from rsdet.structures import HBoxes

T = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_000_000.0)
HEIGHT, WIDTH = 160, 200
# Irregular image patches on a nodata mosaic, (col, row) vertices.
PATCHES = [
    [(5, 5), (70, 10), (80, 60), (40, 75), (10, 50)],
    [(110, 20), (190, 8), (195, 90), (150, 70), (120, 95)],
    [(30, 100), (100, 95), (120, 150), (20, 155)],
]
# Bright squares wholly inside the patches: (row, col, size).
OBJECTS = [(20, 20, 8), (40, 50, 6), (25, 150, 10), (60, 170, 6), (115, 50, 8), (135, 90, 6)]


class EdgeFiringDetector:
    """A ``predict`` double that finds bright squares and, like a real model on a nodata
    collar, also fires on every 16 px block that holds both black and data pixels."""

    classes = ("object",)

    def predict(self, image):
        band = image[..., 0]
        boxes = [
            [s[1].start, s[0].start, s[1].stop, s[0].stop]
            for s in ndimage.find_objects(ndimage.label(band >= 150)[0])
        ]
        for r in range(0, band.shape[0], 16):
            for c in range(0, band.shape[1], 16):
                block = band[r : r + 16, c : c + 16]
                if (block == 0).any() and (block > 0).any():
                    boxes.append([c, r, c + block.shape[1], r + block.shape[0]])
        scores = [0.9] * (len(boxes)) if boxes else []
        return np.array(boxes, float).reshape(-1, 4), np.array(scores), np.zeros(len(boxes), int)


def footprint():
    shapes = [(Polygon(p), 1) for p in PATCHES]
    return rasterize(shapes, out_shape=(HEIGHT, WIDTH), fill=0).astype(bool)


def write_patched(path, how):
    valid = footprint()
    data = np.full((3, HEIGHT, WIDTH), 60, np.uint8)
    for row, col, size in OBJECTS:
        data[:, row : row + size, col : col + size] = 220
    data[:, ~valid] = 0  # nodata is black underneath in every encoding
    count = 4 if how == "alpha" else 3
    profile = dict(driver="GTiff", height=HEIGHT, width=WIDTH, count=count, dtype="uint8")
    profile.update(crs="EPSG:32633", transform=T, tiled=True, blockxsize=16, blockysize=16)
    if how == "nodata":
        profile["nodata"] = 0
    if how == "alpha":
        profile["photometric"] = "RGB"
        profile["alpha"] = "YES"
    env = rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True)
    with env, rasterio.open(path, "w", **profile) as ds:
        ds.write(data, indexes=[1, 2, 3])
        if how == "alpha":
            ds.write(valid.astype(np.uint8) * 255, 4)
        if how == "mask":
            ds.write_mask(valid.astype(np.uint8) * 255)
    return str(path)


def pixel_boxes(frame):
    inv = ~T
    out = []
    for g in frame.geometry:
        x0, y0, x1, y1 = g.bounds
        (c0, r0), (c1, r1) = inv @ (x0, y1), inv @ (x1, y0)
        out.append([c0, r0, c1, r1])
    return HBoxes(torch.tensor(out, dtype=torch.float64).reshape(-1, 4))


@pytest.mark.parametrize("how", ["nodata", "alpha", "mask"])
def test_no_detection_lies_mostly_on_nodata_and_every_object_is_found(tmp_path, how):
    path = write_patched(tmp_path / f"{how}.tif", how)
    frame = detect_scene(path, EdgeFiringDetector(), tile_size=64, overlap=16)
    boxes = pixel_boxes(frame)
    assert (box_valid_fraction(boxes, footprint()) >= MIN_VALID_FRACTION).all()
    found = boxes.tensor.round().tolist()
    for row, col, size in OBJECTS:
        assert [col, row, col + size, row + size] in found
    # the double did fire on the collar: edge boxes over half data are kept, the rest not
    assert len(frame) > len(OBJECTS)
