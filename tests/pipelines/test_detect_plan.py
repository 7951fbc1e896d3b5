import numpy as np
import pytest
import rasterio
from rsdet.pipelines.detect_plan import resample_factors

from rsdet.io.raster import read_scene_info
from tests.io.test_georef import ground_scene


def write_scene(path, epsg, lon, lat, gsd):
    crs, transform = ground_scene(epsg, lon, lat, gsd=gsd, size=64)
    profile = dict(driver="GTiff", height=64, width=64, count=3, dtype="uint8")
    with rasterio.open(path, "w", crs=crs, transform=transform, **profile) as ds:
        ds.write(np.zeros((3, 64, 64), np.uint8))
    return str(path)


@pytest.mark.parametrize(("epsg", "lon", "lat"), [(3857, 10.0, 45.0), (3413, -45.0, 85.0)])
def test_a_scene_at_the_models_ground_gsd_is_not_resampled_in_any_projection(
    tmp_path, epsg, lon, lat
):
    # Web Mercator at 45 N: grid steps of 0.141 m are 0.1 m on the ground
    scene = read_scene_info(write_scene(tmp_path / "s.tif", epsg, lon, lat, gsd=0.1))
    assert scene.pixel_size_m == pytest.approx((0.1, 0.1), rel=1e-3)
    assert resample_factors(scene, 0.1, True) == (1.0, 1.0)


def test_a_coarser_web_mercator_scene_is_resampled_by_its_ground_gsd(tmp_path):
    scene = read_scene_info(write_scene(tmp_path / "s.tif", 3857, 10.0, 45.0, gsd=0.2))
    assert resample_factors(scene, 0.1, True) == pytest.approx((2.0, 2.0), rel=1e-3)
