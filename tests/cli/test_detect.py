"""``rsdet detect`` through the real CLI, with a real checkpoint of a test-double network."""

import json

import geopandas as gpd
import pyogrio
import pytest
from affine import Affine
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet.io.journal import journal_path
from rsdet.io.vector import read_metadata
from tests.pipelines.detect_doubles import (
    Planted,
    register_planted,
    write_planted_checkpoint,
    write_scene,
)

OBJECTS = [
    Planted(10, 56, 10, 16, 0, 0.9),
    Planted(56, 56, 16, 16, 2, 0.6),
    Planted(100, 130, 8, 8, 1, 0.7),
]


@pytest.fixture
def model(tmp_path, monkeypatch):
    register_planted(monkeypatch)
    return str(write_planted_checkpoint(tmp_path / "planted.pt"))


@pytest.fixture
def scene(tmp_path):
    path = tmp_path / "scene.tif"
    write_scene(path, 120, 160, OBJECTS)
    return str(path)


def run(*args):
    result = CliRunner().invoke(app, ["detect", *map(str, args)])
    return result


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_detect_writes_a_styled_geopackage(tmp_path, model, scene):
    out = tmp_path / "objects.gpkg"
    result = run(scene, "--out", out, "--model", model, "--quiet")
    assert result.exit_code == 0, result.output
    layer = pyogrio.read_dataframe(out, layer="objects")
    assert sorted(layer.class_name) == ["car", "ship", "tank"]
    assert layer.crs.to_epsg() == 32633
    assert not (tmp_path / "objects.qml").exists()  # the style is inside the GeoPackage
    assert len(pyogrio.read_dataframe(out, layer="layer_styles")) == 1
    assert not journal_path(out).exists()
    meta = read_metadata(out)
    assert meta["model"]["name"] == "planted.pt" and len(meta["model"]["sha256"]) == 64


def test_summary_preview_and_append(tmp_path, model, scene):
    out, png = tmp_path / "o.gpkg", tmp_path / "o.png"
    result = run(scene, "--out", out, "--model", model, "--quiet", "--preview", png)
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG")
    result = run(scene, "--out", out, "--model", model, "--append", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["report"]
    assert {k: v["objects"] for k, v in report["classes"].items()} == {
        "car": 1,
        "ship": 1,
        "tank": 1,
    }
    assert report["scenes"][0]["per_ha"] == pytest.approx(3 / 0.48, rel=2e-3)  # 60 x 80 m
    assert len(pyogrio.read_dataframe(out, layer="o")) == 6
    result = run(scene, "--out", out, "--model", model)  # what a user reads at the end
    assert_user_error(result, "o.gpkg", "already exists")
    result = run(scene, "--out", tmp_path / "p.gpkg", "--model", model)
    assert "car: 1 objects, long side" in result.stderr and "per ha" in result.stderr


def test_json_summary_is_the_only_thing_on_stdout(tmp_path, model, scene):
    out = tmp_path / "o.geojson"
    result = run(scene, "--out", out, "--model", model, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["objects"] == 3 and summary["scenes"][0]["tiles"] == 12
    assert set(summary["files"]) == {str(out), str(tmp_path / "o.qml")}
    assert summary["report"]["scenes"][0]["objects"] == 3
    assert json.loads(out.read_text())["features"][0]["geometry"]["type"] == "Polygon"


@pytest.mark.parametrize("ext", [".shp", ".parquet", ".geojson"])
def test_other_formats(tmp_path, model, scene, ext):
    out = tmp_path / f"o{ext}"
    result = run(scene, "--out", out, "--model", model, "--quiet", "--keep-crs")
    assert result.exit_code == 0, result.output
    layer = gpd.read_parquet(out) if ext == ".parquet" else pyogrio.read_dataframe(out)
    assert len(layer) == 3 and layer.crs.to_epsg() == 32633


def test_thresholds_and_tiling_options(tmp_path, model, scene):
    out = tmp_path / "o.gpkg"
    result = run(
        scene,
        "-o",
        out,
        "-m",
        model,
        "-q",
        "--score-thr",
        "0.65",
        "--tile-size",
        "48",
        "--overlap",
        "20",
    )
    assert result.exit_code == 0, result.output
    assert sorted(pyogrio.read_dataframe(out, layer="o").class_name) == ["car", "ship"]


# --- faults ----------------------------------------------------------------------------
def test_missing_scene(tmp_path, model):
    result = run(tmp_path / "nope.tif", "--out", tmp_path / "o.gpkg", "--model", model)
    assert_user_error(result, "nope.tif", "no such file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["planted.pt"]


@pytest.mark.parametrize(
    ("name", "content"),
    [("corrupt.tif", b"II*\x00" + bytes(200)), ("notes.tif", b"just text\n"), ("empty.tif", b"")],
)
def test_unreadable_scenes(tmp_path, model, name, content):
    (tmp_path / name).write_bytes(content)
    result = run(tmp_path / name, "--out", tmp_path / "o.gpkg", "--model", model)
    assert_user_error(result, name, "not a readable raster")
    assert not (tmp_path / "o.gpkg").exists()


def test_zero_size_scene(tmp_path, model):
    vrt = tmp_path / "zero.vrt"
    vrt.write_text('<VRTDataset rasterXSize="0" rasterYSize="0"></VRTDataset>')
    assert_user_error(run(vrt, "--out", tmp_path / "o.gpkg", "--model", model), "zero.vrt")


def test_single_band_scene(tmp_path, model):
    path = tmp_path / "gray.tif"
    write_scene(path, 32, 32, [], count=1, score_band=0)
    result = run(path, "--out", tmp_path / "o.gpkg", "--model", model)
    assert_user_error(result, "gray.tif", "has 1 band", "--bands")


def test_unknown_model(tmp_path, scene):
    result = run(scene, "--out", tmp_path / "o.gpkg", "--model", "no-such-model")
    assert_user_error(result, "no-such-model", "no such model file")


def test_existing_output_needs_overwrite(tmp_path, model, scene):
    out = tmp_path / "o.gpkg"
    out.write_bytes(b"precious")
    assert_user_error(run(scene, "--out", out, "--model", model), "o.gpkg", "--overwrite")
    assert out.read_bytes() == b"precious"
    assert run(scene, "--out", out, "--model", model, "--overwrite", "-q").exit_code == 0
    assert len(pyogrio.read_dataframe(out, layer="o")) == 3


def test_bad_options(tmp_path, model, scene):
    out = tmp_path / "o.gpkg"
    assert_user_error(run(scene, "--out", out, "--model", model, "--bands", "1,x"), "--bands")
    assert_user_error(
        run(scene, "--out", tmp_path / "o.csv", "--model", model), "unknown output format"
    )
    assert_user_error(run(scene, "--out", out, "--model", model, "--bands", "1,2,9"), "3 bands")


def test_scene_without_crs(tmp_path, model):
    path = tmp_path / "plain.tif"
    write_scene(path, 32, 32, [Planted(4, 4, 6, 6)], crs=None, transform=Affine.identity())
    result = run(path, "--out", tmp_path / "a.gpkg", "--model", model, "-q")
    assert result.exit_code == 0
    assert "Warning:" in result.stderr and "has no CRS" in result.stderr
    assert_user_error(
        run(path, "--out", tmp_path / "b.gpkg", "--model", model, "--require-crs"),
        "plain.tif",
        "no CRS",
    )


def test_resume_refuses_a_changed_checkpoint(tmp_path, scene, model):
    failing = write_planted_checkpoint(tmp_path / "m.pt", fail_at=2)
    out = tmp_path / "run.gpkg"
    result = run(scene, "--out", out, "--model", failing, "-q")
    assert result.exit_code == 130 and "--resume" in result.stderr
    assert not out.exists() and journal_path(out).exists()
    write_planted_checkpoint(tmp_path / "m.pt")  # retrained in between: not the same model
    result = run(scene, "--out", out, "--model", tmp_path / "m.pt", "--resume")
    assert_user_error(result, "different model", "--overwrite")


def test_resume_continues_with_the_same_model(tmp_path, model, scene, monkeypatch):
    from tests.pipelines import detect_doubles

    reference = tmp_path / "ref.gpkg"
    assert (
        run(scene, "--out", reference, "--model", model, "-q", "--batch-size", "2").exit_code == 0
    )
    calls = {"n": 0}
    forward = detect_doubles.PlantedNet.forward

    def interrupt_at_third(self, images):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return forward(self, images)

    monkeypatch.setattr(detect_doubles.PlantedNet, "forward", interrupt_at_third)
    out = tmp_path / "run.gpkg"
    result = run(scene, "--out", out, "--model", model, "-q", "--batch-size", "2")
    assert result.exit_code == 130 and "--resume" in result.stderr
    assert not out.exists()
    result = run(scene, "--out", out, "--model", model, "-q", "--batch-size", "2", "--resume")
    assert result.exit_code == 0, result.output
    a = pyogrio.read_dataframe(reference, layer="ref")
    b = pyogrio.read_dataframe(out, layer="run")
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert list(a.geometry.to_wkb()) == list(b.geometry.to_wkb())
    assert calls["n"] == 3 + (6 - 2)  # 12 tiles in 6 batches; 2 finished before Ctrl-C
