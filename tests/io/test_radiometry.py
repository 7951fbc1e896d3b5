"""Range scaling: raw values -> [0, 1] per band, fixed or from scene percentiles."""

import numpy as np
import pytest

from rsdet.io.radiometry import Radiometry, percentile_radiometry, scale_to_unit
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
