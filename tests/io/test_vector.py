import json
import math
import sqlite3
import time
import warnings
from contextlib import closing
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pytest
import torch
from affine import Affine
from rasterio.crs import CRS

from rsdet.errors import InputError, OutputExistsError
from rsdet.io import vector
from rsdet.io.qml import qml_style
from rsdet.io.raster import SceneInfo
from rsdet.io.vector import (
    VectorFormat,
    combine_frames,
    detections_frame,
    output_files,
    read_metadata,
    vector_format,
    write_layer,
)
from rsdet.structures import Detections, HBoxes, RBoxes

CLASSES = ("car", "ship")
UTM = CRS.from_epsg(32633)
T = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_000_000.0)


def scene(crs=UTM, transform=T):
    return SceneInfo("s.tif", 100, 100, 3, "uint8", crs, transform, False, (0.5, 0.5))


def frame(n=2, oriented=False, crs=UTM, name="s.tif"):
    if oriented:
        boxes = RBoxes(torch.tensor([[10.0, 10.0, 8.0, 4.0, 0.0]] * n, dtype=torch.float64))
    else:
        boxes = HBoxes(
            torch.tensor([[0.0, 0.0, 1.0, 1.0], [10, 20, 30, 24]][:n], dtype=torch.float64)
        )
    dets = Detections(
        boxes, torch.tensor([0.9, 0.4][:n], dtype=torch.float64), torch.tensor([0, 5][:n])
    )
    return detections_frame(dets, scene(crs), CLASSES, name)


def test_frame_attributes():
    f = frame()
    assert list(f.columns) == [
        "class_id",
        "class_name",
        "score",
        "width_m",
        "height_m",
        "scene",
        "geometry",
    ]
    assert f["class_name"].tolist() == ["car", "5"]  # unknown label: named by its number
    # ground metres: UTM's grid is 0.9996 of the ground on its central meridian
    assert f["width_m"].tolist() == pytest.approx([0.5, 10.0], rel=1e-3)
    assert f["height_m"].tolist() == pytest.approx([0.5, 2.0], rel=1e-3)
    assert f.crs == UTM
    assert "angle_deg" in frame(oriented=True).columns


def test_empty_frame_has_all_columns():
    f = frame(n=0)
    assert len(f) == 0 and "score" in f.columns


@pytest.mark.parametrize("name", ["out.txt", "out", "out.tif"])
def test_unknown_format(name):
    with pytest.raises(InputError, match="unknown output format"):
        vector_format(name)


@pytest.mark.parametrize("ext", [".gpkg", ".geojson", ".shp", ".parquet"])
def test_every_format_round_trips(tmp_path, ext):
    path = tmp_path / f"cars{ext}"
    written = write_layer(frame(), path, CLASSES)
    assert set(written) == {p for p in output_files(path) if p.exists()}
    # a GeoPackage carries its style inside: no sidecar
    assert path.with_suffix(".qml").exists() == (ext != ".gpkg")
    if ext == ".parquet":
        back = gpd.read_parquet(path)
    else:
        back = pyogrio.read_dataframe(path, layer=path.stem)
    assert back["class_name"].tolist() == ["car", "5"]
    assert back["score"].tolist() == pytest.approx([0.9, 0.4])
    if ext == ".geojson":
        assert back.crs.to_epsg() == 4326
    else:
        assert back.crs.to_epsg() == 32633
        assert back.geometry[0].area == pytest.approx(0.25)
    assert not list(tmp_path.glob(".rsdet-write-*"))  # staging folder cleaned up


def test_geojson_is_rfc7946_wgs84_unless_keep_crs(tmp_path):
    path = tmp_path / "a.geojson"
    write_layer(frame(), path, CLASSES)
    doc = json.loads(path.read_text())
    assert "crs" not in doc
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 14 < lon < 16 and 35 < lat < 37  # UTM 33N, 4000 km north
    kept = tmp_path / "b.geojson"
    write_layer(frame(), kept, CLASSES, keep_crs=True)
    doc = json.loads(kept.read_text())
    assert doc["crs"]["properties"]["name"].endswith("32633")
    x, y = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert math.isclose(x, 500_000.0, abs_tol=1) and math.isclose(y, 4_000_000.0, abs_tol=1)


def test_gpkg_carries_its_style_for_qgis(tmp_path):
    path = tmp_path / "cars.gpkg"
    write_layer(frame(), path, CLASSES)
    info = pyogrio.read_info(path, layer="cars")
    assert info["geometry_name"] == "geom"
    styles = pyogrio.read_dataframe(path, layer="layer_styles")
    row = styles.iloc[0]
    assert (row.f_table_name, row.f_geometry_column, row.f_table_schema) == ("cars", "geom", "")
    assert bool(row.useAsDefault)
    assert ET.fromstring(row.styleQML.split("\n", 1)[1]).tag == "qgis"


def test_existing_output_is_never_clobbered(tmp_path):
    path = tmp_path / "cars.gpkg"
    write_layer(frame(n=1), path, CLASSES)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match=r"cars\.gpkg: already exists"):
        write_layer(frame(), path, CLASSES)
    assert path.read_bytes() == before
    write_layer(frame(), path, CLASSES, overwrite=True)
    assert len(pyogrio.read_dataframe(path, layer="cars")) == 2


def test_existing_style_sidecar_counts_as_output(tmp_path):
    (tmp_path / "cars.qml").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"cars\.qml: already exists with another style"):
        write_layer(frame(), tmp_path / "cars.geojson", CLASSES)
    assert (tmp_path / "cars.qml").read_text() == "mine"


def test_formats_of_one_name_share_a_folder(tmp_path):
    # .gpkg needs no sidecar; .geojson then .shp share the identical cars.qml
    for ext in (".gpkg", ".geojson", ".shp", ".parquet"):
        write_layer(frame(), tmp_path / f"cars{ext}", CLASSES)
    assert (tmp_path / "cars.qml").read_text(encoding="utf-8") == qml_style(CLASSES)
    # another model's classes: another style, a real conflict
    (tmp_path / "cars.geojson").unlink()
    with pytest.raises(OutputExistsError, match="another style"):
        write_layer(frame(), tmp_path / "cars.geojson", ["tree"])


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def explode(frame, path, keep_crs, meta):
        Path(path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setitem(vector._WRITERS, VectorFormat.GPKG, explode)
    with pytest.raises(OSError, match="disk full"):
        write_layer(frame(), tmp_path / "cars.gpkg", CLASSES)
    assert list(tmp_path.iterdir()) == []


def test_empty_layer_is_still_a_valid_file(tmp_path):
    for ext in (".gpkg", ".geojson", ".shp"):
        path = tmp_path / f"none_{ext[1:]}{ext}"
        write_layer(frame(n=0), path, CLASSES)
        assert len(pyogrio.read_dataframe(path, layer=path.stem)) == 0


def test_combine_frames_reprojects_to_the_first_crs():
    a = frame(name="a.tif")
    b = frame(crs=CRS.from_epsg(32632), name="b.tif")
    both = combine_frames([a, b])
    assert both.crs == UTM and both["scene"].tolist() == ["a.tif", "a.tif", "b.tif", "b.tif"]
    assert not np.allclose(both.geometry[2].bounds, b.geometry[0].bounds)
    with pytest.raises(InputError, match="with and without a CRS"):
        combine_frames([a, frame(crs=None)])


META = {
    "version": "0.1.0",
    "model": {"name": "cars.pt", "sha256": "ab" * 32},
    "classes": list(CLASSES),
    "score_thr": 0.25,
    "scenes": ["s.tif"],
    "date": "2026-01-02T03:04:05+00:00",
}


def float32_frame():
    boxes = HBoxes(torch.tensor([[0.0, 0.0, 1.0, 1.0], [10, 20, 30, 24]]))
    scores = torch.tensor([0.9, 0.4], dtype=torch.float32)
    return detections_frame(Detections(boxes, scores, torch.tensor([0, 1])), scene(), CLASSES, "s")


def test_scores_and_sizes_carry_no_float32_noise_and_types_agree(tmp_path):
    f = float32_frame()
    assert f["score"].tolist() == [0.9, 0.4]  # not 0.8999999761581421
    assert all(round(v, 3) == v for v in f["width_m"])  # millimetres
    types = {}
    for ext in (".gpkg", ".geojson", ".shp"):
        path = tmp_path / f"t{ext}"
        write_layer(f, path, CLASSES)
        info = pyogrio.read_info(path, layer="t")
        types[ext] = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types[".gpkg"] == types[".geojson"] == types[".shp"]
    assert types[".gpkg"]["class_id"] == "int32"
    assert '"score": 0.9,' in (tmp_path / "t.geojson").read_text()


@pytest.mark.parametrize("ext", [".gpkg", ".geojson", ".parquet"])
def test_run_metadata_travels_with_the_layer(tmp_path, ext):
    path = tmp_path / f"cars{ext}"
    write_layer(frame(), path, CLASSES, metadata=META)
    assert read_metadata(path) == META


def test_metadata_where_gis_tools_look(tmp_path):
    write_layer(frame(), tmp_path / "a.gpkg", CLASSES, metadata=META)
    with closing(sqlite3.connect(tmp_path / "a.gpkg")) as db:
        (xml,) = db.execute("SELECT metadata FROM gpkg_metadata").fetchone()
        ref = db.execute("SELECT reference_scope, table_name FROM gpkg_metadata_reference")
        assert ref.fetchall() == [("table", "a")]
        (description,) = db.execute(
            "SELECT description FROM gpkg_contents WHERE table_name = 'a'"
        ).fetchone()
    assert '<MDI key="RSDET_MODEL">' in xml and "cars.pt" in description
    write_layer(frame(), tmp_path / "a.geojson", CLASSES, metadata=META)
    assert json.loads((tmp_path / "a.geojson").read_text())["rsdet"] == META
    write_layer(frame(), tmp_path / "a.parquet", CLASSES, metadata=META)
    kv = pq.read_schema(tmp_path / "a.parquet").metadata
    assert json.loads(kv[b"rsdet"]) == META
    assert json.loads(kv[b"geo"])["version"] == "1.0.0"  # GDAL >= 3.8 reads it (1.1.0: 3.9)


@pytest.mark.parametrize("ext", [".gpkg", ".geojson", ".shp", ".parquet"])
def test_same_input_gives_the_same_bytes(tmp_path, ext):
    outs = []
    for run in range(2):
        path = tmp_path / f"{run}" / f"cars{ext}"
        write_layer(frame(), path, CLASSES, metadata=META)
        outs.append(path.read_bytes())
        time.sleep(0.02)  # GDAL stamps GeoPackages to the millisecond, unless told a date
    assert outs[0] == outs[1]


def test_scene_without_crs_writes_without_pyogrio_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for ext in (".gpkg", ".geojson", ".shp"):
            write_layer(frame(crs=None), tmp_path / f"n{ext}", CLASSES)


def test_append_adds_features_atomically(tmp_path):
    path = tmp_path / "cars.gpkg"
    write_layer(frame(name="a.tif"), path, CLASSES, metadata=META)
    more = {**META, "scenes": ["b.tif"]}
    written = write_layer(frame(name="b.tif"), path, CLASSES, metadata=more, append=True)
    assert written == [path]
    back = pyogrio.read_dataframe(path, layer="cars")
    assert back["scene"].tolist() == ["a.tif", "a.tif", "b.tif", "b.tif"]
    assert read_metadata(path)["scenes"] == ["s.tif", "b.tif"]
    with closing(sqlite3.connect(path)) as db:  # what QGIS shows as the abstract
        sql = "SELECT description FROM gpkg_contents WHERE table_name = 'cars'"
        (description,) = db.execute(sql).fetchone()
    assert "scenes (2): s.tif, b.tif" in description
    assert len(pyogrio.read_dataframe(path, layer="layer_styles")) == 1
    assert not list(tmp_path.glob(".rsdet-write-*"))


def test_append_refuses_what_does_not_fit(tmp_path):
    path = tmp_path / "cars.gpkg"
    with pytest.raises(InputError, match="nothing to append to"):
        write_layer(frame(), path, CLASSES, metadata=META, append=True)
    write_layer(frame(), path, CLASSES, metadata=META)
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"classes \['car', 'ship'\] differ"):
        write_layer(frame(), path, ["tree"], metadata=META, append=True)
    with pytest.raises(InputError, match=r"columns .* differ"):
        write_layer(frame(oriented=True), path, CLASSES, metadata=META, append=True)
    with pytest.raises(InputError, match="with and without a CRS"):
        write_layer(frame(crs=None), path, CLASSES, metadata=META, append=True)
    with pytest.raises(InputError, match="GeoPackage"):
        write_layer(frame(), tmp_path / "cars.geojson", CLASSES, append=True)
    assert path.read_bytes() == before


def test_append_reprojects_to_the_layer_crs(tmp_path):
    path = tmp_path / "cars.gpkg"
    write_layer(frame(), path, CLASSES, metadata=META)
    write_layer(frame(crs=CRS.from_epsg(32632)), path, CLASSES, metadata=META, append=True)
    back = pyogrio.read_dataframe(path, layer="cars")
    assert back.crs.to_epsg() == 32633 and len(back) == 4
