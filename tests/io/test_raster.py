import numpy as np
import pytest
import rasterio
from affine import Affine

from rsdet.errors import InputError
from rsdet.io.raster import (
    UNREFERENCED_TRANSFORM,
    check_bands,
    open_dataset,
    read_scene_info,
    read_window,
)
from rsdet.tiling import Window

TRANSFORM = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_000_000.0)


def write(path, data, **kw):
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
    if meta.get("crs") is None:
        meta.pop("crs")
    with rasterio.open(path, "w", **meta) as ds:
        ds.write(data)
    return str(path)


# --- opening: faults first -------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_dataset(str(tmp_path / "nope.tif"))


@pytest.mark.parametrize("content", [b"", b"II*\x00garbage" * 10, b"hello, not a raster\n"])
def test_corrupt_or_non_raster_file(tmp_path, content):
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"bad\.tif: not a readable raster"):
        read_scene_info(str(path))


def test_vector_file_is_not_a_raster(tmp_path):
    import geopandas as gpd
    import shapely

    path = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=4326).to_file(path)
    with pytest.raises(InputError, match="not a readable raster"):
        read_scene_info(str(path))


def test_error_messages_are_one_line(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\x00" + bytes(range(256)))
    with pytest.raises(InputError) as err:
        read_scene_info(str(path))
    assert "\n" not in str(err.value)


def test_scene_info(tmp_path):
    path = write(tmp_path / "a.tif", np.zeros((3, 20, 30), np.uint16), nodata=0)
    info = read_scene_info(path)
    assert (info.height, info.width, info.count, info.dtype) == (20, 30, 3, "uint16")
    assert info.crs.to_epsg() == 32633 and info.transform == TRANSFORM
    assert info.has_mask and info.pixel_size_m == pytest.approx((0.5, 0.5), rel=1e-3)


def test_scene_without_georeferencing_uses_the_qgis_frame(tmp_path):
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", height=8, width=8, count=1, dtype="uint8") as ds:
        ds.write(np.zeros((1, 8, 8), np.uint8))
    info = read_scene_info(str(path))
    assert info.crs is None and info.pixel_size_m is None and not info.has_mask
    assert info.transform == UNREFERENCED_TRANSFORM


def test_single_band_scene_for_a_three_band_model(tmp_path):
    info = read_scene_info(write(tmp_path / "gray.tif", np.zeros((1, 8, 8), np.uint8)))
    with pytest.raises(InputError, match=r"gray\.tif: has 1 band but the model reads bands 1,2,3"):
        check_bands(info, (1, 2, 3))
    check_bands(info, (1,))
    with pytest.raises(InputError, match="bands start at 1"):
        check_bands(info, (0, 1))


# --- pixel values ------------------------------------------------------------------------
def test_read_window_resamples_to_the_requested_shape(tmp_path):
    data = np.arange(64 * 64, dtype=np.float32).reshape(1, 64, 64)
    path = write(tmp_path / "f.tif", data)
    with open_dataset(path) as ds:
        raw, valid = read_window(ds, Window(16, 8, 32, 32), (1,), (32, 32), masked=False)
        assert valid is None and raw[0, 0, 0] == 8 * 64 + 16
        small, _ = read_window(ds, Window(0, 0, 64, 64), (1,), (16, 16), masked=False)
        assert small.shape == (1, 16, 16)


def test_a_truncated_scene_fails_on_read_with_one_line_naming_it(tmp_path):
    from rsdet.errors import SceneError
    from rsdet.io.raster import read_errors

    path = tmp_path / "cut.tif"
    write(path, np.arange(3 * 64 * 64, dtype=np.uint16).reshape(3, 64, 64))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    info = read_scene_info(str(path))  # the header is intact: opening still works
    with pytest.raises(SceneError, match=r"cut\.tif: cannot read its pixels \(.+\); .*truncated"):
        with open_dataset(str(path)) as ds, read_errors(info.path):
            read_window(ds, Window(0, 0, 64, 64), (1, 2, 3), (64, 64), False)
