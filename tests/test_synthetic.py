"""The synthetic scene generator: deterministic, exact boxes, tiny objects, GeoTIFF output."""

import math

import numpy as np
import pytest
import rasterio

from rsdet.config import ConfigError
from rsdet.synthetic import (
    CLASSES,
    DEMO_CRS,
    DEMO_ORIGIN,
    SyntheticSpec,
    make_samples,
    make_scene,
    parse_synthetic_spec,
    write_geotiff,
)


@pytest.mark.parametrize("kind", ["trees", "vehicles", "mixed"])
def test_same_seed_same_scene_and_other_seed_differs(kind):
    a, b, c = make_scene(5, 256, kind), make_scene(5, 256, kind), make_scene(6, 256, kind)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.polygons, b.polygons)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("kind", ["trees", "vehicles", "mixed"])
def test_every_box_encloses_exactly_its_drawn_object(kind):
    for seed in range(2):
        s = make_scene(seed, 320, kind, masks=True)
        ids, env = s.meta["instances"], s.hboxes().tensor.numpy()
        rb = s.rboxes().tensor.numpy()
        assert len(s) > 0
        ious = []
        for i in range(len(s)):
            ys, xs = np.nonzero(ids == i + 1)
            assert len(xs) > 0, f"object {i} is not visible"
            # No drawn pixel outside the oriented box (pixel centres, one pixel of blur slack).
            cx, cy, w, h, t = rb[i]
            du, dv = xs + 0.5 - cx, ys + 0.5 - cy
            along = du * math.cos(t) + dv * math.sin(t)
            across = -du * math.sin(t) + dv * math.cos(t)
            assert np.abs(along).max() <= w / 2 + 1 and np.abs(across).max() <= h / 2 + 1
            # ...and the box is no bigger than what was drawn (allowing for occlusion).
            x0, y0, x1, y1 = env[i]
            mx0, my0, mx1, my1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            inter = max(0, min(x1, mx1) - max(x0, mx0)) * max(0, min(y1, my1) - max(y0, my0))
            union = (x1 - x0) * (y1 - y0) + (mx1 - mx0) * (my1 - my0) - inter
            ious.append(inter / union)
        assert np.median(ious) > 0.85


def test_oriented_classes_follow_the_heading_and_round_ones_are_axis_aligned():
    s = make_scene(3, 512, "mixed")
    rb = s.rboxes().tensor.numpy()
    round_ids = [CLASSES["mixed"].index("storage-tank"), CLASSES["mixed"].index("tree")]
    is_round = np.isin(s.labels, round_ids)
    # Round objects are labelled with axis-aligned squares-ish boxes: angle 0 or -pi/2.
    angles = np.abs(np.sin(2 * rb[is_round, 4]))
    assert np.all(angles < 1e-4)
    # Vehicles are longer than wide.
    vehicles = s.labels == CLASSES["mixed"].index("vehicle")
    assert np.all(rb[vehicles, 2] / rb[vehicles, 3] > 1.5)


def test_mixed_objects_are_tiny():
    sizes = np.concatenate(
        [make_scene(s, 512, "mixed").rboxes().tensor[:, 2].numpy() for s in range(3)]
    )
    assert 6 <= np.median(sizes) <= 30
    assert np.mean(sizes <= 32) > 0.8


def test_tree_crowns_match_the_default_models_data_at_10cm():
    s = make_scene(0, 1024, "trees")
    widths = s.hboxes().widths.numpy()
    assert len(s) > 40  # about 100 crowns per hectare, like the NEON crops
    assert 25 <= np.median(widths) <= 60  # NEON crowns: median 41 px at 0.1 m


def test_tiny_scene_may_have_no_objects_but_is_well_formed():
    s = make_scene(0, 16, "vehicles")
    assert s.image.shape == (16, 16, 3) and s.image.dtype == np.uint8
    assert s.polygons.shape == (len(s), 4, 2)


def test_nodata_border_is_zero_and_objects_stay_inside():
    s = make_scene(1, 256, "mixed", nodata=20)
    img = s.image
    assert (img[:20] == 0).all() and (img[:, -20:] == 0).all()
    assert (img[20:-20, 20:-20] > 0).all()
    assert s.meta["nodata"] == 0
    assert s.polygons.min() >= 20 and s.polygons.max() <= 236


def test_gsd_scales_object_sizes():
    fine = make_scene(0, 512, "vehicles", gsd=0.15).rboxes().tensor[:, 2].numpy()
    coarse = make_scene(0, 512, "vehicles", gsd=0.3).rboxes().tensor[:, 2].numpy()
    assert np.median(fine) == pytest.approx(2 * np.median(coarse), rel=0.2)


def test_geotiff_is_georeferenced_in_utm_12n(tmp_path):
    s = make_scene(0, 64, "trees", nodata=4)
    out = tmp_path / "scene.tif"
    write_geotiff(s, out)
    with rasterio.open(out) as src:
        assert src.crs.to_string() == DEMO_CRS
        assert src.transform.a == pytest.approx(0.1) and src.transform.e == pytest.approx(-0.1)
        assert (src.transform.c, src.transform.f) == DEMO_ORIGIN
        assert src.nodata == 0
        assert np.array_equal(np.moveaxis(src.read(), 0, -1), s.image)
    assert [p.name for p in tmp_path.iterdir()] == ["scene.tif"]  # no temporary left behind


def test_spec_parsing_and_errors():
    spec = parse_synthetic_spec("synthetic:?n=3&size=128&seed=7&kind=trees&gsd=0.2")
    assert spec == SyntheticSpec(n=3, size=128, seed=7, kind="trees", gsd=0.2)
    assert parse_synthetic_spec("synthetic:") == SyntheticSpec()
    with pytest.raises(ConfigError, match="unknown key sizee"):
        parse_synthetic_spec("synthetic:?sizee=128")
    with pytest.raises(ConfigError, match="kind"):
        parse_synthetic_spec("synthetic:?kind=boats")
    samples = make_samples(SyntheticSpec(n=2, size=64, seed=1, kind="vehicles"))
    assert [s.image_id for s in samples] == [
        "synthetic_vehicles_100003",
        "synthetic_vehicles_100004",
    ]
