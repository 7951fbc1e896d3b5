import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.enums import ColorInterp, Resampling

from rsdet.io.raster import open_dataset, read_scene_info
from rsdet.io.validity import box_valid_fraction, scan_validity
from rsdet.structures import HBoxes, RBoxes
from rsdet.tiling import Window, tile_grid

TRANSFORM = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_000_000.0)


def write(path, data, overviews=False, **kw):
    count, height, width = data.shape
    meta = dict(
        driver="GTiff",
        height=height,
        width=width,
        count=count,
        dtype=data.dtype.name,
        crs="EPSG:32633",
        transform=TRANSFORM,
        tiled=True,
        blockxsize=16,
        blockysize=16,
    )
    meta.update(kw)
    with rasterio.open(path, "w", **meta) as ds:
        ds.write(data)
        if overviews:
            # average ignores nodata: any valid pixel keeps its overview pixel valid
            ds.build_overviews([2, 4], Resampling.average)
    return str(path)


def scan(path, cell_px=8, bands=(1, 2, 3)):
    info = read_scene_info(path)
    with open_dataset(path) as ds:
        return scan_validity(ds, info, bands, cell_px)


def test_scene_without_nodata_needs_no_scan(tmp_path):
    assert scan(write(tmp_path / "a.tif", np.ones((3, 32, 32), np.uint8))) is None


def test_all_nodata_scene_has_no_valid_tile(tmp_path):
    vm = scan(write(tmp_path / "a.tif", np.zeros((3, 64, 64), np.uint8), nodata=0))
    assert not any(vm.any_valid(w) for w in tile_grid(64, 64, 16, 4))


def test_a_single_valid_pixel_keeps_its_tile(tmp_path):
    data = np.zeros((3, 256, 256), np.uint8)
    data[:, 200, 37] = 5  # one pixel, far smaller than a mask cell
    vm = scan(write(tmp_path / "a.tif", data, nodata=0), cell_px=64)
    valid = [w for w in tile_grid(256, 256, 64, 0) if vm.any_valid(w)]
    assert valid == [Window(0, 192, 64, 64)]


@pytest.mark.parametrize("overviews", [False, True], ids=["pixel-pass", "mask-read"])
@pytest.mark.parametrize(("seed", "height", "width"), [(0, 203, 317), (1, 1100, 97), (2, 64, 2051)])
def test_no_tile_with_a_valid_pixel_is_ever_skipped(tmp_path, seed, height, width, overviews):
    rng = np.random.default_rng(seed)
    data = np.zeros((2, height, width), np.uint16)
    rows, cols = rng.integers(0, height, 25), rng.integers(0, width, 25)
    data[rng.integers(0, 2, 25), rows, cols] = 7  # single pixels, in one band or the other
    path = write(tmp_path / "dots.tif", data, overviews=overviews, nodata=0)
    valid = (data > 0).any(axis=0)
    for cell in (1, 5, 16, 64):
        vm = scan(path, cell_px=cell, bands=(1, 2))
        for size in (16, 40, 128):
            for w in tile_grid(height, width, size, size // 4):
                if valid[w.row_off : w.row_end, w.col_off : w.col_end].any():
                    assert vm.any_valid(w), (cell, size, w)
    # and empty tiles far from any data are skipped
    far = scan(
        write(
            tmp_path / "corner.tif",
            np.pad(np.ones((1, 4, 4), np.uint8), ((0, 0), (0, 252), (0, 252))),
            nodata=0,
        ),
        cell_px=16,
        bands=(1,),
    )
    assert not far.any_valid(Window(128, 128, 64, 64))


def test_nodata_band_values_are_not_invalid_pixels(tmp_path):
    data = np.zeros((3, 16, 16), np.uint8)
    data[1] = 50  # black in band 1 only: a real (dark red) pixel, not nodata
    vm = scan(write(tmp_path / "a.tif", data, nodata=0))
    assert vm.any_valid(Window(0, 0, 16, 16))


def test_internal_mask_and_alpha_band(tmp_path):
    data = np.full((3, 32, 32), 7, np.uint8)
    path = write(tmp_path / "masked.tif", data)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "r+") as ds:
        mask = np.zeros((32, 32), np.uint8)
        mask[:16, :16] = 255
        ds.write_mask(mask)
    vm = scan(path)
    assert vm.any_valid(Window(0, 0, 16, 16)) and not vm.any_valid(Window(16, 16, 16, 16))

    rgba = np.concatenate([data, np.zeros((1, 32, 32), np.uint8)])
    rgba[3, 20:, 20:] = 255
    path = write(tmp_path / "alpha.tif", rgba, photometric="RGB")
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    vm = scan(path)
    assert vm.any_valid(Window(16, 16, 16, 16)) and not vm.any_valid(Window(0, 0, 16, 16))


def test_box_valid_fraction_counts_the_pixels_a_box_touches():
    valid = np.zeros((10, 10), bool)
    valid[:, :5] = True  # left half holds data
    boxes = HBoxes(torch.tensor([[0, 0, 4, 4], [3, 0, 7, 2], [6, 6, 9, 9], [2.5, 0, 5.5, 1]]))
    frac = box_valid_fraction(boxes, valid)
    assert frac.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.75])  # last: touches cols 2..5
    outside = HBoxes(torch.tensor([[20.0, 20.0, 30.0, 30.0]]))
    assert box_valid_fraction(outside, valid).tolist() == [0.0]
    # oriented boxes: measured over their envelope
    rbox = RBoxes(torch.tensor([[2.0, 5.0, 4.0, 2.0, 0.0]]))  # cols 0..4, rows 4..6
    assert box_valid_fraction(rbox, valid).tolist() == [1.0]
