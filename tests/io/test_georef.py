import math

import numpy as np
import pytest
import torch
from affine import Affine
from rasterio.crs import CRS

from rsdet.io.georef import (
    box_corners_px,
    box_measures,
    linear_unit_m,
    pixel_map,
    pixel_size_m,
    polygons_crs,
    px_to_crs,
)
from rsdet.io.raster import UNREFERENCED_TRANSFORM
from rsdet.structures import HBoxes, RBoxes

NORTH_UP = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_000_000.0)


def ring(polygon):
    return [tuple(p) for p in np.asarray(polygon.exterior.coords)[:-1]]


def test_first_pixel_box_is_the_first_pixel_footprint():
    poly = polygons_crs(box_corners_px(HBoxes([[0, 0, 1, 1]])), NORTH_UP)[0]
    # pixel (0, 0) spans x 500000..500000.5 and y 3999999.5..4000000 (y decreases downwards)
    assert sorted(ring(poly)) == sorted(
        [
            (500_000.0, 4_000_000.0),
            (500_000.5, 4_000_000.0),
            (500_000.5, 3_999_999.5),
            (500_000.0, 3_999_999.5),
        ]
    )
    assert poly.area == 0.25


def test_rotated_and_sheared_transforms_map_every_corner():
    t = Affine(0.3, 0.2, 1000.0, -0.1, -0.4, 2000.0)  # rotation + shear, no axis alignment
    poly = polygons_crs(box_corners_px(HBoxes([[2, 3, 6, 5]])), t)[0]
    expected = {
        (0.3 * c + 0.2 * r + 1000.0, -0.1 * c - 0.4 * r + 2000.0)
        for c, r in [(2, 3), (6, 3), (6, 5), (2, 5)]
    }
    got = ring(poly)
    assert len(got) == 4
    for point in got:
        assert min(math.dist(point, e) for e in expected) < 1e-9


def test_polygons_are_counter_clockwise_whatever_the_transform():
    boxes = box_corners_px(HBoxes([[0, 0, 4, 2]]))
    for t in (NORTH_UP, UNREFERENCED_TRANSFORM, Affine.identity(), Affine.rotation(125.0)):
        assert polygons_crs(boxes, t)[0].exterior.is_ccw


def test_px_to_crs_is_the_affine_on_continuous_coordinates():
    x, y = px_to_crs(NORTH_UP, np.array([0.0, 0.5, 10.0]), np.array([0.0, 0.5, 4.0]))
    assert x.tolist() == [500_000.0, 500_000.25, 500_005.0]
    assert y.tolist() == [4_000_000.0, 3_999_999.75, 3_999_998.0]


def test_oriented_boxes_become_their_four_corners():
    corners = box_corners_px(
        RBoxes(torch.tensor([[10.0, 10.0, 4.0, 2.0, math.pi / 2]], dtype=torch.float64))
    )
    for expected in [(9, 8), (11, 8), (11, 12), (9, 12)]:
        assert min(math.dist(expected, c) for c in corners[0]) < 1e-9


def test_pixel_size_in_a_projected_crs_is_the_step_over_the_scale_factor():
    # UTM's scale factor is 0.9996 on its central meridian (x = 500000)
    gx, gy = pixel_size_m(NORTH_UP, CRS.from_epsg(32633), 10, 10)
    assert (gx, gy) == pytest.approx((0.5 / 0.9996, 0.5 / 0.9996), rel=1e-5)
    feet = CRS.from_epsg(2263)  # NY Long Island, US survey feet (conformal, k ~ 1 here)
    size = pixel_size_m(Affine(1.0, 0, 1_000_000.0, 0, -1.0, 200_000.0), feet, 10, 10)
    assert size == pytest.approx((0.3048006, 0.3048006), rel=1e-4)
    assert linear_unit_m(feet) == pytest.approx(0.3048006, rel=1e-6)


def test_pixel_size_in_a_geographic_crs_is_metres_at_the_centre():
    # 1e-5 degree pixels centred on the equator: 1.1132 m east-west, 1.1057 m north-south
    t = Affine(1e-5, 0, -0.0005, 0, -1e-5, 0.0005)
    gx, gy = pixel_size_m(t, CRS.from_epsg(4326), 100, 100)
    assert gx == pytest.approx(1.11319, rel=1e-4)
    assert gy == pytest.approx(1.10574, rel=1e-4)
    # at 60 degrees north, a degree of longitude is half as long
    t60 = Affine(1e-5, 0, 10.0, 0, -1e-5, 60.0005)
    assert pixel_size_m(t60, CRS.from_epsg(4326), 100, 100)[0] == pytest.approx(0.5580, rel=1e-3)
    assert pixel_size_m(NORTH_UP, None, 10, 10) is None


# One ground scene (0.1 m pixels, a box 40 x 20 pixels: 4 x 2 m) in CRSs whose scale factor
# at the scene is far from 1: (EPSG, centre lon, centre lat).
GROUND_SCENES = [
    (32612, -111.0, 45.0),  # UTM on its central meridian (k = 0.9996)
    (3857, 10.0, 45.0),  # Web Mercator at 45 N (k = 1.41)
    (32633, 21.0, 0.5),  # UTM zone 33 six degrees east of its meridian (k ~ 1.005)
    (3413, -45.0, 85.0),  # NSIDC polar stereographic north, true scale at 70 N
    (3031, 60.0, -88.0),  # Antarctic polar stereographic, true scale at 71 S
    (4326, 10.0, 60.0),  # geographic
]


def ground_scene(epsg, lon, lat, gsd=0.1, size=200):
    """A north-up transform whose pixels are ``gsd`` metres on the ground at the centre.

    The grid steps are found independently of rsdet: geodesic points ``gsd`` metres east
    and north of the centre, projected to the CRS.
    """
    import pyproj

    crs = CRS.from_epsg(epsg)
    geod = pyproj.Geod(ellps="WGS84")
    to_crs = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    east = geod.fwd(lon, lat, 90.0, gsd)[:2]
    north = geod.fwd(lon, lat, 0.0, gsd)[:2]
    x0, y0 = to_crs.transform(lon, lat)
    xe, ye = to_crs.transform(*east)
    xn, yn = to_crs.transform(*north)
    # Conformal projections (and lon/lat) keep the east and north steps orthogonal; the
    # grid may be rotated against them (meridian convergence): keep the step *lengths*.
    step_x, step_y = math.hypot(xe - x0, ye - y0), math.hypot(xn - x0, yn - y0)
    half = size / 2
    transform = Affine(step_x, 0, x0 - half * step_x, 0, -step_y, y0 + half * step_y)
    return crs, transform


@pytest.mark.parametrize(("epsg", "lon", "lat"), GROUND_SCENES)
def test_gsd_and_box_sizes_are_ground_metres_in_any_projection(epsg, lon, lat):
    crs, transform = ground_scene(epsg, lon, lat)
    gx, gy = pixel_size_m(transform, crs, 200, 200)
    assert gx == pytest.approx(0.1, rel=1e-3) and gy == pytest.approx(0.1, rel=1e-3)
    boxes = HBoxes([[80.0, 90.0, 120.0, 110.0]])  # centred on the scene centre
    m = box_measures(boxes, transform, crs)
    assert m["width_m"][0] == pytest.approx(4.0, rel=1e-3)
    assert m["height_m"][0] == pytest.approx(2.0, rel=1e-3)
    oriented = box_measures(RBoxes([[100.0, 100.0, 40.0, 20.0, 0.3]]), transform, crs)
    assert oriented["width_m"][0] == pytest.approx(4.0, rel=1e-3)


def test_box_sizes_in_metres_follow_the_transform():
    boxes = HBoxes([[0, 0, 10, 4]])
    utm = CRS.from_epsg(32633)
    m = box_measures(boxes, NORTH_UP, utm)
    assert (m["width_m"][0], m["height_m"][0]) == pytest.approx((5.002, 2.0008), rel=1e-4)
    rotated = Affine.translation(500_000.0, 4_000_000.0) @ Affine.rotation(30.0)
    rotated = rotated @ Affine.scale(0.5, -0.5)
    m = box_measures(boxes, rotated, utm)
    assert m["width_m"][0] == pytest.approx(5.002, rel=1e-4)
    assert m["height_m"][0] == pytest.approx(2.0008, rel=1e-4)
    assert np.isnan(box_measures(boxes, NORTH_UP, None)["width_m"][0])
    assert "angle_deg" not in m


@pytest.mark.parametrize(
    ("theta", "azimuth"),
    [(0.0, 90.0), (math.pi / 2, 0.0), (math.pi / 4, 135.0), (-math.pi / 4, 45.0)],
)
def test_angle_is_clockwise_from_north_for_the_long_side(theta, azimuth):
    # theta turns the box's long side from image +x (east) towards image +y (south)
    boxes = RBoxes([[5.0, 5.0, 6.0, 2.0, theta]])
    for t in (NORTH_UP, UNREFERENCED_TRANSFORM):
        got = box_measures(boxes, t, None)["angle_deg"][0]
        assert got == pytest.approx(azimuth, abs=1e-4)
        assert 0.0 <= got < 180.0


def test_angle_uses_the_long_side_even_if_w_is_short():
    boxes = RBoxes(torch.tensor([[5.0, 5.0, 2.0, 6.0, 0.0]]))
    m = box_measures(boxes, NORTH_UP, CRS.from_epsg(32633))
    assert m["angle_deg"][0] == pytest.approx(0.0)  # long side vertical: north-south
    assert (m["width_m"][0], m["height_m"][0]) == pytest.approx((3.0012, 1.0004), rel=1e-4)


def test_pixel_map_in_the_scene_crs_is_the_affine_transform():
    to_map, from_map = pixel_map(NORTH_UP, CRS.from_epsg(32633), CRS.from_epsg(32633))
    px = np.array([[0.0, 0.0], [10.0, 4.0]])
    assert to_map(px).tolist() == [[500_000.0, 4_000_000.0], [500_005.0, 3_999_998.0]]
    assert from_map(to_map(px)).tolist() == px.tolist()


def test_pixel_map_reprojects_into_another_crs_and_back():
    import pyproj

    # UTM 33N pixels seen from UTM 32N (the neighbouring zone), as GeoDataFrame.to_crs does.
    to_map, from_map = pixel_map(NORTH_UP, CRS.from_epsg(32633), CRS.from_epsg(32632))
    px = np.array([[0.0, 0.0], [1000.0, 2000.0]])
    x, y = px_to_crs(NORTH_UP, px[:, 0], px[:, 1])
    expected = pyproj.Transformer.from_crs(32633, 32632, always_xy=True).transform(x, y)
    np.testing.assert_allclose(to_map(px), np.stack(expected, axis=1), rtol=0, atol=1e-6)
    assert abs(to_map(px)[0, 0] - x[0]) > 1e5  # really another frame
    np.testing.assert_allclose(from_map(to_map(px)), px, rtol=0, atol=1e-6)
