"""End to end on synthetic scenes: every planted object comes out once, in the right place."""

import math
import warnings

import numpy as np
import pyogrio
import pytest
import torch
from affine import Affine
from rsdet.pipelines.detect_scene import DetectOptions, detect_scene, detect_to_file

from rsdet.errors import InputError, OutputExistsError
from rsdet.io.journal import journal_path
from rsdet.io.raster import SceneWarning
from rsdet.models.detector import Detector
from tests.pipelines.detect_doubles import (
    CLASSES,
    Planted,
    PlantedConfig,
    PlantedDetector,
    PlantedNet,
    planted_spec,
    write_mosaic,
    write_scene,
)

# Scene 200 x 280 px, tiles 64 px with 24 px overlap: tile rows start at 0, 40, 80, 120,
# 136 and columns at 0, 40, 80, 120, 160, 200, 216 (the last ones pulled back).
HEIGHT, WIDTH, TILE, OVERLAP = 200, 280, 64, 24
OBJECTS = [
    Planted(10, 56, 10, 16, 0, 0.9),  # across the x = 64 edge of the first tile
    Planted(58, 20, 12, 10, 1, 0.7),  # across the y = 64 edge
    Planted(56, 56, 16, 16, 2, 0.6),  # corner shared by four tiles
    Planted(100, 270, 10, 10, 0, 0.5),  # on the right scene edge
    Planted(150, 205, 15, 15, 1, 0.8),  # inside the pulled-back last column
    Planted(190, 130, 10, 10, 2, 0.4),  # on the bottom scene edge
    Planted(120, 58, 10, 6, 0, 0.9),  # ends exactly on a tile edge ...
    Planted(120, 66, 10, 10, 0, 0.9),  # ... with a close neighbour just past it
]
T = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_000_000.0)


def expected_bounds(obj, transform=T):
    xs, ys = [], []
    for c, r in [(obj.col, obj.row), (obj.col + obj.w, obj.row + obj.h)]:
        xs.append(transform.a * c + transform.b * r + transform.c)
        ys.append(transform.d * c + transform.e * r + transform.f)
    return min(xs), min(ys), max(xs), max(ys)


def assert_each_object_once(frame, objects, transform=T, tol=0.25):
    """Match features to planted objects one to one; return the feature row of each object."""
    assert len(frame) == len(objects)
    unmatched, rows = list(range(len(frame))), []
    for obj in objects:
        want = np.array(expected_bounds(obj, transform))
        hits = [
            i for i in unmatched if np.abs(np.array(frame.geometry[i].bounds) - want).max() <= tol
        ]
        assert len(hits) == 1, f"{obj} matched {len(hits)} features"
        row = frame.iloc[hits[0]]
        assert row.class_name == CLASSES[obj.class_id] and row.class_id == obj.class_id
        assert row.score == pytest.approx(round(255 * obj.score) / 255, abs=1e-6)
        unmatched.remove(hits[0])
        rows.append(row)
    return rows


@pytest.fixture
def scene(tmp_path):
    path = tmp_path / "scene.tif"
    write_scene(path, HEIGHT, WIDTH, OBJECTS)
    return str(path)


def planted_detector(spec=None, **config):
    spec = spec or planted_spec(tile_size=TILE, overlap=OVERLAP)
    config.setdefault("high", spec.input.high[0])
    config.setdefault("oriented", spec.oriented)
    return Detector(PlantedNet(PlantedConfig(**config)), spec, device="cpu")


# --- the main promise ------------------------------------------------------------------
def test_every_object_once_with_a_predict_object(scene):
    frame = detect_scene(scene, PlantedDetector(), tile_size=TILE, overlap=OVERLAP)
    assert_each_object_once(frame, OBJECTS)
    first = frame.iloc[
        int(np.argmin([g.bounds[0] + 1e9 * (4e6 - g.bounds[3]) for g in frame.geometry]))
    ]
    # 16 x 10 px at 0.5 m of grid; UTM's grid is 0.9996 of the ground on its meridian
    assert (first.width_m, first.height_m) == pytest.approx((8.0, 5.0), rel=1e-3)
    assert set(frame["scene"]) == {"scene.tif"}
    assert frame.crs.to_epsg() == 32633


def test_every_object_once_with_an_rsdet_detector(scene):
    det = planted_detector()
    frame = detect_scene(scene, det)  # tile size and overlap from the model's spec
    assert_each_object_once(frame, OBJECTS)
    detect_scene(scene, det, score_thr=0.35)
    assert det.postprocess.score_thr == 0.05  # the run's threshold left the model as it was


def test_batches_and_prefetch_do_not_change_the_result(scene):
    one = detect_scene(scene, planted_detector(), batch_size=1)
    many = detect_scene(scene, planted_detector(), batch_size=7)
    assert one.equals(many)


def test_same_input_same_output(scene):
    a = detect_scene(scene, PlantedDetector(), tile_size=TILE, overlap=OVERLAP)
    b = detect_scene(scene, PlantedDetector(), tile_size=TILE, overlap=OVERLAP)
    assert a.equals(b)


def test_oriented_boxes_carry_their_angle(scene):
    det = planted_detector(planted_spec(tile_size=TILE, overlap=OVERLAP, oriented=True))
    frame = detect_scene(scene, det)
    for obj, row in zip(OBJECTS, assert_each_object_once(frame, OBJECTS), strict=True):
        if obj.w != obj.h:  # long side east-west: 90 degrees; north-south: 0
            assert row.angle_deg == pytest.approx(90.0 if obj.w > obj.h else 0.0, abs=1e-6)
            assert row.width_m == pytest.approx(0.5 * max(obj.w, obj.h), rel=1e-3)


def test_a_scene_smaller_than_a_tile(tmp_path):
    path = tmp_path / "small.tif"
    objs = [Planted(3, 4, 5, 7, 1, 0.9)]
    write_scene(path, 20, 30, objs)
    double = PlantedDetector()
    frame = detect_scene(str(path), double, tile_size=TILE, overlap=OVERLAP)
    assert double.calls == [(20, 30)]
    assert_each_object_once(frame, objs)
    # an rsdet Detector pads to its size divisor and still finds the object
    assert_each_object_once(detect_scene(str(path), planted_detector()), objs)


# --- georeferencing ------------------------------------------------------------------------
def test_geographic_crs(tmp_path):
    path = tmp_path / "geo.tif"
    t = Affine(1e-5, 0.0, 12.0, 0.0, -1e-5, 45.0)
    write_scene(path, HEIGHT, WIDTH, OBJECTS, crs="EPSG:4326", transform=t)
    frame = detect_scene(str(path), PlantedDetector(), tile_size=TILE, overlap=OVERLAP)
    assert_each_object_once(frame, OBJECTS, transform=t, tol=0.5e-5)
    # sizes in ground metres: 1e-5 degree is 0.7885 m east-west and 1.1113 m north-south
    for obj, row in zip(OBJECTS, assert_each_object_once(frame, OBJECTS, t, 0.5e-5), strict=True):
        assert row.width_m == pytest.approx(obj.w * 0.78847, rel=1e-3)
        assert row.height_m == pytest.approx(obj.h * 1.11132, rel=1e-3)


def test_rotated_transform(tmp_path):
    path = tmp_path / "rot.tif"
    t = Affine.translation(300_000.0, 5_000_000.0) @ Affine.rotation(20.0) @ Affine.scale(0.5, -0.5)
    write_scene(path, HEIGHT, WIDTH, OBJECTS, transform=t)
    frame = detect_scene(str(path), PlantedDetector(), tile_size=TILE, overlap=OVERLAP)
    assert len(frame) == len(OBJECTS)
    for obj in OBJECTS:
        corners = {
            (t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f)
            for c, r in [
                (obj.col, obj.row),
                (obj.col + obj.w, obj.row),
                (obj.col + obj.w, obj.row + obj.h),
                (obj.col, obj.row + obj.h),
            ]
        }
        found = [
            g
            for g in frame.geometry
            if all(
                min(math.dist(p, q) for q in corners) < 1e-6 for p in list(g.exterior.coords)[:4]
            )
        ]
        assert len(found) == 1
        row = frame[frame.geometry == found[0]].iloc[0]
        # 200 km off UTM's meridian the grid is 1.0001 of the ground
        assert (row.width_m, row.height_m) == pytest.approx((0.5 * obj.w, 0.5 * obj.h), rel=1e-3)


def test_scene_without_crs_warns_and_uses_the_qgis_pixel_frame(tmp_path):
    path = tmp_path / "plain.tif"
    objs = [Planted(5, 6, 4, 8, 0, 0.9)]
    write_scene(path, 32, 32, objs, crs=None, transform=Affine.identity())
    with pytest.warns(SceneWarning, match="has no CRS"):
        frame = detect_scene(str(path), PlantedDetector(), tile_size=TILE, overlap=OVERLAP)
    assert frame.crs is None
    assert frame.geometry[0].bounds == (6.0, -9.0, 14.0, -5.0)  # x = col, y = -row
    with pytest.raises(InputError, match="has no CRS"):
        detect_scene(str(path), PlantedDetector(), require_crs=True)


# --- nodata -----------------------------------------------------------------------------------
def test_nodata_tiles_are_skipped_without_running_the_model(tmp_path):
    path = tmp_path / "sparse.tif"
    objs = [Planted(20, 20, 8, 8, 0, 0.9)]
    # 256 x 256 scene with data only where row < 40 and col < 40: 1 of 16 tiles
    write_scene(path, 256, 256, objs, nodata=0, nodata_boxes=[(40, 256, 0, 256), (0, 40, 40, 256)])
    double = PlantedDetector()
    opts = DetectOptions(tile_size=64, overlap=0)
    summary = detect_to_file([str(path)], tmp_path / "out.gpkg", double, opts, quiet=True)
    assert len(double.calls) == 1
    assert (summary.scenes[0].tiles, summary.scenes[0].skipped, summary.objects) == (16, 15, 1)


def test_all_nodata_scene_gives_an_empty_layer(tmp_path):
    path = tmp_path / "void.tif"
    write_scene(path, 64, 64, [], nodata=10)  # every pixel equals the nodata value
    double = PlantedDetector()
    out = tmp_path / "void.gpkg"
    summary = detect_to_file(
        [str(path)], out, double, DetectOptions(tile_size=32, overlap=8), quiet=True
    )
    assert double.calls == [] and summary.objects == 0
    assert len(pyogrio.read_dataframe(out, layer="void")) == 0


def test_objects_next_to_nodata_are_found(tmp_path):
    path = tmp_path / "edge.tif"
    objs = [Planted(30, 30, 10, 10, 1, 0.8)]
    write_scene(path, 128, 128, objs, nodata=0, nodata_boxes=[(0, 128, 41, 128)])
    frame = detect_scene(str(path), PlantedDetector(), tile_size=32, overlap=16)
    assert_each_object_once(frame, objs)


# --- bands, dtypes, GSD --------------------------------------------------------------------
def test_uint16_scene_is_scaled_by_the_model_range(tmp_path):
    path = tmp_path / "u16.tif"
    write_scene(path, HEIGHT, WIDTH, OBJECTS, dtype="uint16", unit=20)  # codes up to 5100
    spec = planted_spec(tile_size=TILE, overlap=OVERLAP, high=10000.0)
    frame = detect_scene(str(path), planted_detector(spec, unit=20.0))
    assert_each_object_once(frame, OBJECTS)


def test_four_band_scene_with_chosen_bands(tmp_path):
    path = tmp_path / "four.tif"
    write_scene(path, HEIGHT, WIDTH, OBJECTS, count=4, class_band=3, score_band=1)
    frame = detect_scene(str(path), planted_detector(), bands=(4, 2, 3))
    assert_each_object_once(frame, OBJECTS)
    # the default bands (1, 2, 3) hold no class codes: nothing is found
    assert len(detect_scene(str(path), planted_detector())) == 0


def test_a_bad_last_scene_fails_before_the_first_tile(tmp_path, scene):
    gray = tmp_path / "gray.tif"
    write_scene(gray, 32, 32, [], count=1, score_band=0)
    det = planted_detector()
    with pytest.raises(InputError, match=r"gray\.tif"):
        detect_to_file([scene, str(gray)], tmp_path / "o.gpkg", det, quiet=True)
    assert det.network.calls == 0 and not journal_path(tmp_path / "o.gpkg").exists()


def test_single_band_scene_for_a_three_band_model(tmp_path):
    path = tmp_path / "gray.tif"
    write_scene(path, 32, 32, [], count=1, score_band=0)
    with pytest.raises(InputError, match=r"gray\.tif: has 1 band but the model reads bands 1,2,3"):
        detect_scene(str(path), planted_detector())


def test_windows_are_resampled_to_the_model_gsd(tmp_path):
    path = tmp_path / "fine.tif"
    objs = [Planted(40, 60, 12, 20, 0, 0.9), Planted(100, 150, 16, 16, 2, 0.7)]
    write_scene(path, HEIGHT, WIDTH, objs)  # 0.5 m pixels
    seen = []
    spec = planted_spec(tile_size=TILE, overlap=OVERLAP, gsd_m=1.0)
    det = planted_detector(spec)
    forward = det.network.forward
    det.network.forward = lambda x: seen.append(tuple(x.shape[-2:])) or forward(x)
    frame = detect_scene(str(path), det)
    assert set(seen) == {(64, 64)}  # 128 x 128 scene pixels shrunk to the model's 64 x 64
    assert_each_object_once(frame, objs, tol=1.0)  # one model pixel = 1 m
    seen.clear()
    detect_scene(str(path), det, resample=False)
    assert set(seen) == {(64, 64)}


def test_bad_tiling_options(tmp_path, scene):
    with pytest.raises(InputError, match="overlap 64 px must be smaller than the tile size 64 px"):
        detect_scene(scene, PlantedDetector(), tile_size=64, overlap=64)
    with pytest.raises(InputError, match="model's default"):  # overlap 128 by default
        detect_to_file(
            [scene], tmp_path / "o.gpkg", PlantedDetector(), DetectOptions(64), quiet=True
        )
    assert list(tmp_path.iterdir()) == [tmp_path / "scene.tif"]  # no journal left behind


# --- files, resume ------------------------------------------------------------------------
def test_several_scenes_go_into_one_layer(tmp_path):
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    write_scene(a, 64, 64, [Planted(5, 5, 6, 6, 0, 0.9)])
    write_scene(b, 64, 64, [Planted(5, 5, 6, 6, 1, 0.9), Planted(30, 30, 6, 6, 2, 0.9)])
    out = tmp_path / "both.gpkg"
    summary = detect_to_file(
        [str(a), str(b)], out, PlantedDetector(), DetectOptions(tile_size=32, overlap=8), quiet=True
    )
    layer = pyogrio.read_dataframe(out, layer="both")
    assert sorted(layer["scene"]) == ["a.tif", "b.tif", "b.tif"]
    assert [s.objects for s in summary.scenes] == [1, 2]
    assert not journal_path(out).exists()


def test_resume_after_an_interruption_gives_the_same_result(tmp_path, scene):
    opts = DetectOptions(tile_size=TILE, overlap=OVERLAP, batch_size=2)
    reference = tmp_path / "ref.gpkg"
    detect_to_file([scene], reference, PlantedDetector(), opts, quiet=True)

    out = tmp_path / "run.gpkg"
    with pytest.raises(KeyboardInterrupt):
        detect_to_file([scene], out, PlantedDetector(fail_at=7), opts, quiet=True)
    assert not out.exists() and journal_path(out).exists()
    with pytest.raises(OutputExistsError, match="--resume"):
        detect_to_file([scene], out, PlantedDetector(), opts, quiet=True)
    rest = PlantedDetector()
    detect_to_file([scene], out, rest, opts, resume=True, quiet=True)
    assert len(rest.calls) == 5 * 7 - 6  # the 3 batches (6 tiles) done before Ctrl-C are kept
    a = pyogrio.read_dataframe(reference, layer="ref")
    b = pyogrio.read_dataframe(out, layer="run")
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert all(x.equals_exact(y, 0) for x, y in zip(a.geometry, b.geometry, strict=True))
    assert not journal_path(out).exists()


def test_resume_with_changed_settings_is_refused(tmp_path, scene):
    out = tmp_path / "run.gpkg"
    with pytest.raises(KeyboardInterrupt):
        detect_to_file(
            [scene], out, PlantedDetector(fail_at=2), DetectOptions(TILE, OVERLAP), quiet=True
        )
    with pytest.raises(InputError, match="different options"):
        detect_to_file(
            [scene], out, PlantedDetector(), DetectOptions(32, 8), resume=True, quiet=True
        )


def test_bad_inputs_fail_before_any_work(tmp_path, scene):
    double = PlantedDetector()
    with pytest.raises(InputError, match="no such file"):
        detect_to_file(
            [scene, str(tmp_path / "missing.tif")], tmp_path / "o.gpkg", double, quiet=True
        )
    assert double.calls == [] and not list(tmp_path.glob("o.*"))
    existing = tmp_path / "exists.geojson"
    existing.write_text("{}")
    with pytest.raises(OutputExistsError):
        detect_to_file([scene], existing, double, quiet=True)
    with pytest.raises(InputError, match="unknown output format"):
        detect_to_file([scene], tmp_path / "o.txt", double, quiet=True)
    assert double.calls == []


def test_predict_objects_may_name_classes_with_a_dict(scene):
    double = PlantedDetector(classes={0: "auto", 2: "tank"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = detect_scene(scene, double, tile_size=TILE, overlap=OVERLAP)
    assert set(frame.class_name) == {"auto", "1", "tank"}


def test_predict_output_is_checked(scene):
    class Broken:
        def predict(self, image):
            return np.zeros((2, 3)), np.zeros(2), np.zeros(2)

    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        detect_scene(scene, Broken(), tile_size=TILE, overlap=OVERLAP)


def test_score_threshold_applies_to_predict_objects(scene):
    frame = detect_scene(scene, PlantedDetector(), tile_size=TILE, overlap=OVERLAP, score_thr=0.65)
    assert frame.score.min() >= 0.65 and len(frame) == 5


def test_cpu_batches_reach_the_detector_channels_last(scene):
    seen = []
    det = planted_detector()
    forward = det.network.forward
    det.network.forward = lambda x: seen.append(x) or forward(x)
    frame = detect_scene(scene, det)
    assert {x.dtype for x in seen} == {torch.float32}
    assert all(x.is_contiguous(memory_format=torch.channels_last) for x in seen)
    assert_each_object_once(frame, OBJECTS)  # same pixels, whatever the memory layout


# --- scenes that share an edge ------------------------------------------------------------
# A 2 x 2 mosaic of 96 x 128 px scenes (borders at x = 128 and y = 96, in mosaic pixels).
MOSAIC_OBJECTS = [
    Planted(20, 120, 10, 14, 0, 0.9),  # across the vertical border
    Planted(90, 40, 12, 8, 1, 0.7),  # across the horizontal border
    Planted(91, 123, 10, 10, 2, 0.6),  # on the corner of all four scenes
    Planted(150, 126, 8, 3, 0, 0.8),  # 2 px in one scene, 1 px in the other
    Planted(40, 60, 8, 8, 1, 0.5),  # inside one scene
    Planted(0, 200, 6, 8, 2, 0.9),  # on the mosaic's outer edge
]


def test_objects_on_scene_borders_come_out_once(tmp_path):
    scenes = write_mosaic(tmp_path, (2, 2), (96, 128), MOSAIC_OBJECTS)
    opts = DetectOptions(tile_size=TILE, overlap=OVERLAP)
    out = tmp_path / "mosaic.gpkg"
    summary = detect_to_file(scenes, out, PlantedDetector(), opts, quiet=True)
    layer = pyogrio.read_dataframe(out, layer="mosaic")
    assert_each_object_once(layer, MOSAIC_OBJECTS)
    assert summary.objects == len(MOSAIC_OBJECTS) == sum(s.objects for s in summary.scenes)
    assert sum(s.detections for s in summary.scenes) > summary.objects  # parts went in


def test_a_neighbour_in_another_crs_is_reprojected_for_the_merge(tmp_path):
    # ETRS89 / UTM 33N: other CRS, same coordinates here (a null datum shift).
    scenes = write_mosaic(
        tmp_path, (1, 2), (96, 128), MOSAIC_OBJECTS[:1], crs_of={(0, 1): "EPSG:25833"}
    )
    opts = DetectOptions(tile_size=TILE, overlap=OVERLAP)
    out = tmp_path / "two.gpkg"
    detect_to_file(scenes, out, PlantedDetector(), opts, quiet=True)
    assert_each_object_once(pyogrio.read_dataframe(out, layer="two"), MOSAIC_OBJECTS[:1])


def test_scene_merge_can_be_turned_off(tmp_path):
    scenes = write_mosaic(tmp_path, (1, 2), (96, 128), MOSAIC_OBJECTS[:1])
    opts = DetectOptions(tile_size=TILE, overlap=OVERLAP, scene_merge=False)
    out = tmp_path / "apart.gpkg"
    summary = detect_to_file(scenes, out, PlantedDetector(), opts, quiet=True)
    assert [s.objects for s in summary.scenes] == [1, 1]  # one part per scene
