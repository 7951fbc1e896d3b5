"""``rsdet export`` through the real CLI, then ``rsdet detect`` with the file it wrote."""

import json

import pyogrio
import pytest
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet.synthetic import make_scene, write_geotiff
from tests.export.test_runtime import tiny_onnx
from tests.export.toy import register_toy, write_toy_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    register_toy(monkeypatch)
    return write_toy_checkpoint(tmp_path / "toy.pt")


def run(*args):
    return CliRunner().invoke(app, [*map(str, args)])


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_export_then_detect_with_the_file(tmp_path, toy):
    out = tmp_path / "toy.onnx"
    result = run("export", toy, "--format", "onnx", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["path"] == str(out) and summary["target"] == "rsdet" and out.is_file()
    scene = tmp_path / "scene.tif"
    write_geotiff(make_scene(1, 300, "vehicles"), scene, gsd=0.5)
    found = run("detect", scene, "--model", out, "--out", tmp_path / "cars.gpkg", "--quiet")
    assert found.exit_code == 0, found.output
    assert len(pyogrio.read_dataframe(tmp_path / "cars.gpkg", layer="cars")) > 0


def test_export_prints_one_sentence_and_refuses_to_clobber(tmp_path, toy):
    out = tmp_path / "toy.onnx"
    result = run("export", toy, "--target", "deepness", "--tile-size", "96", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.stderr and "target deepness, tile 96 px" in result.stderr
    assert_user_error(run("export", toy, "--out", out), "toy.onnx: already exists", "--overwrite")


def test_bad_options_are_one_line(tmp_path, toy):
    out = tmp_path / "m.onnx"
    assert_user_error(run("export", toy, "--opset", "17", "--out", out), "--opset 17", "--opset 18")
    assert_user_error(run("export", "nope.pt", "--out", out), "nope.pt")
    assert not out.exists()


def test_detect_refuses_an_onnx_file_without_rsdet_metadata(tmp_path):
    scene = tmp_path / "scene.tif"
    write_geotiff(make_scene(0, 64, "trees"), scene)
    model = tiny_onnx(tmp_path / "yolo.onnx")
    result = run("detect", scene, "--model", model, "--out", tmp_path / "x.gpkg")
    assert_user_error(result, "yolo.onnx: no rsdet metadata")
