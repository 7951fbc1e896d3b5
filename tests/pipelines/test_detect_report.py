"""Outputs that explain themselves: run metadata, the end-of-run summary, --append, --preview."""

import os
import time
import warnings
from datetime import UTC, datetime

import cv2
import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from affine import Affine
from rsdet.pipelines.detect_scene import DetectOptions, detect_to_file

from rsdet import __version__
from rsdet.errors import InputError, OutputExistsError
from rsdet.io.qml import class_colors
from rsdet.io.raster import SceneWarning
from rsdet.io.vector import read_metadata
from tests.pipelines.detect_doubles import CLASSES, Planted, PlantedDetector, write_scene

OPTS = DetectOptions(tile_size=32, overlap=8)
# 64 x 64 px of 0.5 m: 32 m x 32 m = 0.1024 ha (ground metres: UTM's 0.9996 scale aside)
AREA_HA = 0.1024


@pytest.fixture
def two_scenes(tmp_path):
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    write_scene(a, 64, 64, [Planted(5, 5, 6, 6, 0, 0.9)])
    far = Affine(0.5, 0.0, 600_000.0, 0.0, -0.5, 4_000_000.0)
    ships = [Planted(5, 5, 6, 6, 1, 0.9), Planted(30, 30, 12, 8, 1, 0.6)]
    write_scene(b, 64, 64, ships, transform=far)
    return str(a), str(b)


def detect(scenes, out, **kw):
    return detect_to_file(list(scenes), out, PlantedDetector(), OPTS, quiet=True, **kw)


def test_summary_counts_per_class_and_scene_with_density_and_sizes(tmp_path, two_scenes):
    summary = detect(two_scenes, tmp_path / "o.gpkg")
    report = summary.to_dict()["report"]  # what --json prints
    assert {k: v["objects"] for k, v in report["classes"].items()} == {"car": 1, "ship": 2}
    ships = report["classes"]["ship"]["size_m"]  # long sides 3 m and 6 m
    assert (ships["min"], ships["max"]) == pytest.approx((3.0, 6.0), rel=2e-3)
    rows = {r["scene"]: r for r in report["scenes"]}
    assert [rows[n]["objects"] for n in ("a.tif", "b.tif")] == [1, 2]
    assert rows["b.tif"]["area_ha"] == pytest.approx(AREA_HA, rel=2e-3)
    assert rows["b.tif"]["per_ha"] == pytest.approx(2 / AREA_HA, rel=2e-3)


def test_run_metadata_is_stored_with_the_layer(tmp_path, two_scenes):
    out = tmp_path / "o.geojson"
    detect(two_scenes, out)
    meta = read_metadata(out)
    assert meta["version"] == __version__ and meta["classes"] == list(CLASSES)
    assert (meta["tile_size"], meta["overlap"], meta["score_thr"]) == (32, 8, 0.0)
    assert meta["scenes"] == ["a.tif", "b.tif"]
    assert meta["model"]["name"].endswith("PlantedDetector")
    newest = max(os.stat(p).st_mtime for p in two_scenes)  # the inputs' date, not the clock
    assert meta["date"] == datetime.fromtimestamp(int(newest), tz=UTC).isoformat()


def test_source_date_epoch_fixes_the_date(tmp_path, two_scenes, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = tmp_path / "o.parquet"
    detect(two_scenes, out)
    assert read_metadata(out)["date"] == "2023-11-14T22:13:20+00:00"


def test_same_run_gives_byte_identical_geopackages(tmp_path, two_scenes):
    first, second = tmp_path / "1" / "o.gpkg", tmp_path / "2" / "o.gpkg"
    detect(two_scenes, first)
    time.sleep(0.05)
    detect(two_scenes, second)
    assert first.read_bytes() == second.read_bytes()


def test_a_geopackage_needs_no_sidecar_and_formats_share_a_folder(tmp_path, two_scenes):
    for ext in (".gpkg", ".geojson", ".shp"):
        detect(two_scenes, tmp_path / f"o{ext}")
    assert len(list(tmp_path.glob("o.qml"))) == 1


def test_append_adds_a_run_to_a_geopackage(tmp_path, two_scenes):
    out = tmp_path / "o.gpkg"
    detect(two_scenes[:1], out)
    summary = detect(two_scenes[1:], out, append=True)
    layer = pyogrio.read_dataframe(out, layer="o")
    assert sorted(layer["scene"]) == ["a.tif", "b.tif", "b.tif"]
    assert summary.objects == 2 and summary.files == [str(out)]
    assert read_metadata(out)["scenes"] == ["a.tif", "b.tif"]


def test_bad_append_and_preview_fail_before_any_work(tmp_path, two_scenes):
    det = PlantedDetector()
    with pytest.raises(InputError, match="nothing to append to"):
        detect_to_file(two_scenes, tmp_path / "new.gpkg", det, OPTS, quiet=True, append=True)
    with pytest.raises(InputError, match="GeoPackage"):
        detect_to_file(two_scenes, tmp_path / "o.geojson", det, OPTS, quiet=True, append=True)
    other = tmp_path / "other.gpkg"
    detect_to_file(two_scenes, other, det, OPTS, quiet=True)
    det.calls.clear()
    with pytest.raises(InputError, match=r"classes \['car', 'ship', 'tank'\] differ"):
        detect_to_file(
            two_scenes,
            other,
            PlantedDetector(classes=("auto", "boat", "silo")),
            OPTS,
            quiet=True,
            append=True,
        )
    (tmp_path / "junk.gpkg").write_bytes(b"not a geopackage")
    with pytest.raises(InputError, match=r"junk\.gpkg: not a readable GeoPackage"):
        detect_to_file(two_scenes, tmp_path / "junk.gpkg", det, OPTS, quiet=True, append=True)
    (tmp_path / "p.png").write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match=r"p\.png: already exists"):
        detect_to_file(
            two_scenes, tmp_path / "o.gpkg", det, OPTS, quiet=True, preview=tmp_path / "p.png"
        )
    assert det.calls == [] and not (tmp_path / "o.gpkg").exists()  # nothing ran


def bgr(class_id):
    r, g, b = class_colors(len(CLASSES))[class_id]
    return np.array([b, g, r])


def test_preview_shows_the_scenes_with_their_objects(tmp_path, two_scenes):
    png = tmp_path / "p.png"
    summary = detect(two_scenes, tmp_path / "o.gpkg", preview=png)
    assert str(png) in summary.files
    image = cv2.imread(str(png))
    assert image.shape == (800, 1600, 3)  # two panels side by side
    left, right = image[:800, :800], image[:800, 800:]
    # a 64 px scene fills an 800 px panel (12.5x): the car's outline around (row, col)
    # (5..11) * 12.5 in the left panel, in the car's class colour; ships only on the right
    near = left[55:150, 55:150].reshape(-1, 3)
    assert (np.abs(near.astype(int) - bgr(0)).sum(axis=1) < 60).sum() > 50
    assert not (np.abs(left.reshape(-1, 3).astype(int) - bgr(1)).sum(axis=1) < 30).any()
    assert (np.abs(right.reshape(-1, 3).astype(int) - bgr(1)).sum(axis=1) < 60).sum() > 100


def test_scene_without_crs_writes_cleanly_with_a_preview(tmp_path):
    path = tmp_path / "plain.tif"
    write_scene(path, 32, 32, [Planted(5, 6, 4, 8, 0, 0.9)], crs=None, transform=Affine.identity())
    out = tmp_path / "plain.gpkg"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = detect([str(path)], out, preview=tmp_path / "p.png")
    assert [w.category for w in caught] == [SceneWarning]  # rsdet's, not pyogrio's
    assert summary.report["scenes"][0]["per_ha"] is None  # no ground area without a CRS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = gpd.read_file(out, layer="plain")
    assert len(layer) == 1 and layer.crs is None
    assert cv2.imread(str(tmp_path / "p.png")).std() > 0
