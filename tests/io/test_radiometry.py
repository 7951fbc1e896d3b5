"""Range scaling: raw values -> [0, 1] per band, fixed or from scene percentiles."""

import numpy as np
import pytest

from rsdet.errors import InputError
from rsdet.io.radiometry import (
    Radiometry,
    ScaleOverride,
    check_value_range,
    fill_nodata,
    parse_scale,
    percentile_radiometry,
    scale_to_unit,
)
from rsdet.io.raster import open_dataset, read_scene_info
from rsdet.models.spec import InputSpec
from tests.io.test_raster import write


def test_scale_to_unit_clips_and_handles_flat_bands_and_nan():
    image = np.array([[[0, 128, 255, 300]], [[5, 5, 5, 5]]], dtype=np.float32)
    image[0, 0, 0] = np.nan
    out = scale_to_unit(image, np.array([0.0, 5.0]), np.array([255.0, 5.0]))
    assert out.dtype == np.float32
    assert out[0, 0].tolist() == pytest.approx([0.0, 128 / 255, 1.0, 1.0])
    assert out[1, 0].tolist() == [0.0, 0.0, 0.0, 0.0]  # high == low maps to 0, no division error


def test_percentile_stretch_ignores_nodata(tmp_path):
    data = np.zeros((1, 40, 40), np.uint16)
    data[0, :, 20:] = np.arange(1000, 1800, 1, dtype=np.uint16).reshape(40, 20)
    path = write(tmp_path / "u16.tif", data, nodata=0)
    info = read_scene_info(path)
    with open_dataset(path) as ds:
        rad = percentile_radiometry(ds, info, (1,), (0.0, 100.0))
    assert (rad.low[0], rad.high[0]) == (1000.0, 1799.0)  # half the scene is 0 = nodata


def test_constant_band_warns_and_scales_to_zero(tmp_path):
    path = write(tmp_path / "flat.tif", np.full((1, 8, 8), 3, np.uint8))
    info = read_scene_info(path)
    with open_dataset(path) as ds, pytest.warns(UserWarning, match="constant or empty"):
        rad = percentile_radiometry(ds, info, (1,), (2.0, 98.0))
    assert rad.to_unit(np.full((1, 2, 2), 3, np.uint8), None).max() == 0.0


def test_fixed_range_for_16_bit_data_is_not_divided_by_255():
    spec = InputSpec(bands=(1, 2), low=(0.0,), high=(10000.0,), mean=(0.5,), std=(0.25,))
    rad = Radiometry(*spec.fixed_range())
    raw = np.array([[[0, 5000]], [[10000, 20000]]], dtype=np.uint16)
    out = rad.to_unit(raw, np.array([[True, False]]))
    assert out.dtype == np.float32
    assert out.tolist() == [[[0.0, 0.0]], [[1.0, 0.0]]]  # invalid pixels are 0


# --- --scale and the range check -------------------------------------------------------
def test_parse_scale_reads_pairs_per_band_and_percentiles():
    assert parse_scale("0,10000") == ScaleOverride("fixed", (0.0,), (10000.0,))
    assert parse_scale("0,1,5,9").low == (0.0, 5.0) and parse_scale("0,1,5,9").high == (1.0, 9.0)
    assert parse_scale("percentile") == ScaleOverride("percentile", percentiles=(2.0, 98.0))
    assert parse_scale("percentile:1,99.5").percentiles == (1.0, 99.5)
    for bad in ("0", "0,1,2", "x,1", "5,5", "percentile:98,2", "percentile:1"):
        with pytest.raises(InputError, match="--scale"):
            parse_scale(bad)


def check(tmp_path, data, low=0.0, high=255.0, nodata=None):
    path = write(tmp_path / "s.tif", data, nodata=nodata)
    info = read_scene_info(path)
    bands = tuple(range(1, data.shape[0] + 1))
    n = len(bands)
    with open_dataset(path) as ds:
        check_value_range(ds, info, bands, np.full(n, low), np.full(n, high))


def test_range_check_refuses_16_bit_data_for_an_8_bit_model(tmp_path):
    data = np.random.default_rng(0).integers(0, 10_001, (4, 64, 64)).astype(np.uint16)
    with pytest.raises(InputError) as err:
        check(tmp_path, data)
    message = str(err.value)
    assert "s.tif: band 1 (uint16) has values up to" in message and "0..255" in message
    assert "--scale 0,10000" in message and "--scale percentile" in message
    assert "\n" not in message
    check(tmp_path, data, high=10_000.0)  # the model's range fits: no error


def test_range_check_refuses_reflectance_for_an_8_bit_model(tmp_path):
    data = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    with pytest.raises(
        InputError, match=r"bands 1,2,3 \(float32\) hold values only up to 0\.99\d*, far below"
    ) as err:
        check(tmp_path, data)
    assert "--scale 0,1 " in str(err.value)


def test_range_check_passes_8_bit_scenes_dark_ones_and_ignores_nodata(tmp_path):
    rng = np.random.default_rng(0)
    check(tmp_path, rng.integers(0, 256, (3, 32, 32)).astype(np.uint8))
    dark = np.zeros((3, 32, 32), np.uint8)
    dark[:, 3:6, 3:6] = 200  # a few bright objects on black: not "far below"
    check(tmp_path, dark)
    collar = rng.integers(0, 256, (3, 32, 32)).astype(np.uint16)
    collar[:, :, :24] = 65535  # a nodata collar is not data
    check(tmp_path, collar, nodata=65535)


def test_range_check_samples_windows_of_large_scenes_without_overviews(tmp_path):
    data = np.full((1, 1500, 1500), 100, np.uint16)
    data[0, :, 1400:] = 9000  # bright right edge: the last column of probe windows
    with pytest.raises(InputError, match="has values up to 9000"):
        check(tmp_path, data)


# --- nodata inside a tile ----------------------------------------------------------------
def test_fill_nodata_modes():
    image = np.zeros((2, 3, 4), np.float32)
    image[0, :, :2], image[1, :, :2] = 0.2, 0.6  # valid left half
    image[:, :, 2:] = 0.0  # what to_unit leaves on nodata
    valid = np.zeros((3, 4), bool)
    valid[:, :2] = True
    image[0, 0, 1] = 0.8  # not flat, so the tile mean differs from the nearest pixel
    mean = np.array([0.5, 0.4], np.float32)
    black = fill_nodata(image.copy(), valid, "black", mean)
    assert black[:, :, 2:].max() == 0.0 and (black[:, valid] == image[:, valid]).all()
    model = fill_nodata(image.copy(), valid, "model_mean", mean)
    assert model[0, :, 2:].tolist() == [[0.5, 0.5]] * 3 and model[1, 2, 3] == pytest.approx(0.4)
    tile = fill_nodata(image.copy(), valid, "tile_mean", mean)
    assert tile[0, 1, 3] == pytest.approx((0.8 + 5 * 0.2) / 6)
    near = fill_nodata(image.copy(), valid, "nearest", mean)
    assert near[0, 0, 2] == pytest.approx(0.8) and near[0, 2, 3] == pytest.approx(0.2)
    assert near[1, 1, 3] == pytest.approx(0.6)
    # no nodata, or no data at all: nothing to copy from
    assert fill_nodata(image.copy(), None, "nearest", mean).tolist() == image.tolist()
    none = fill_nodata(image.copy(), np.zeros((3, 4), bool), "nearest", mean)
    assert none.max() == 0.0
