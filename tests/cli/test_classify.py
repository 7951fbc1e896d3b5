import csv
import json

import pytest
from rsdet.cli.main import app
from typer.testing import CliRunner

from tests.classify.conftest import class_folders  # noqa: F401 (fixture)

runner = CliRunner()

FAST = {
    "bovw": ["--size", "32", "--k", "8", "--pca", "4"],
    "mlp": ["--size", "16"],
    "tinynet-cnn": ["--size", "32", "--widths", "8,16", "--depthwise"],
    "tinynet-e": ["--size", "32"],
}
SLOW = {
    "inception-v3": ["--size", "75"],
    **{f"tinynet-{s}": ["--size", "32"] for s in "abcd"},
}


def run_train_eval_predict(tmp_path, folders, model, extra):
    out = tmp_path / model
    args = ["classify", "train", "--data", f"folder:{folders}", "--model", model]
    r = runner.invoke(app, [*args, "--out", str(out), "--epochs", "1", "--batch", "4", *extra])
    assert r.exit_code == 0, r.output
    assert "accuracy" in r.output and (out / "classifier.pt").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["validation"]["n"] == 4  # 20 % of 10 per class
    png = tmp_path / "c.png"
    r = runner.invoke(
        app,
        [
            "classify",
            "eval",
            "--data",
            f"folder:{folders}",
            "--model",
            str(out),
            "--json",
            "--confusion",
            str(png),
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)[str(out)]
    assert result["n"] == 20 and sum(map(sum, result["confusion"])) == 20
    assert png.is_file()
    table = tmp_path / "p.csv"
    r = runner.invoke(
        app,
        ["classify", "predict", str(folders / "dark"), "--model", str(out), "--out", str(table)],
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 10 and {row["class"] for row in rows} <= {"dark", "stripes"}


@pytest.mark.parametrize("model", list(FAST))
def test_each_model_trains_evaluates_and_predicts(tmp_path, class_folders, model):  # noqa: F811
    run_train_eval_predict(tmp_path, class_folders, model, FAST[model])


@pytest.mark.slow
@pytest.mark.parametrize("model", list(SLOW))
def test_the_bigger_models_train_through_the_cli(tmp_path, class_folders, model):  # noqa: F811
    run_train_eval_predict(tmp_path, class_folders, model, SLOW[model])


def test_predict_cuts_scenes_into_tiles(tmp_path, class_folders):  # noqa: F811
    out = tmp_path / "m"
    args = ["classify", "train", "--data", f"folder:{class_folders}", "--model", "mlp"]
    assert (
        runner.invoke(app, [*args, "--out", str(out), "--size", "16", "--epochs", "1"]).exit_code
        == 0
    )
    table = tmp_path / "t.csv"
    image = class_folders / "dark" / "00.png"  # 32 px: four 16 px tiles
    r = runner.invoke(
        app,
        [
            "classify",
            "predict",
            str(image),
            "--model",
            str(out),
            "--out",
            str(table),
            "--tile",
            "16",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(table.open()))
    assert [(row["x"], row["y"]) for row in rows] == [
        ("0", "0"),
        ("16", "0"),
        ("0", "16"),
        ("16", "16"),
    ]


def test_predict_writes_a_map_layer_of_tiles(tmp_path, class_folders):  # noqa: F811
    import numpy as np
    import pyogrio
    import rasterio
    from affine import Affine

    out = tmp_path / "m"
    args = ["classify", "train", "--data", f"folder:{class_folders}", "--model", "mlp"]
    r = runner.invoke(app, [*args, "--out", str(out), "--size", "16", "--epochs", "1"])
    assert r.exit_code == 0, r.output
    scene = tmp_path / "scene.tif"  # 48 x 32 px at 0.5 m in UTM 33N: 3 x 2 tiles of 16 px
    transform = Affine(0.5, 0.0, 400_000.0, 0.0, -0.5, 4_500_000.0)
    profile = dict(driver="GTiff", height=32, width=48, count=3, dtype="uint8")
    with rasterio.open(scene, "w", **profile, crs="EPSG:32633", transform=transform) as ds:
        ds.write(np.random.default_rng(0).integers(0, 255, (3, 32, 48), dtype=np.uint8))
    layer = tmp_path / "tiles.gpkg"
    cmd = ["classify", "predict", str(scene), "--model", str(out), "--tile", "16"]
    r = runner.invoke(app, [*cmd, "--out", str(layer)])
    assert r.exit_code == 0, r.output
    frame = pyogrio.read_dataframe(layer, layer="tiles")
    assert frame.crs.to_epsg() == 32633 and len(frame) == 6
    assert set(frame["class_name"]) <= {"dark", "stripes"}
    assert ((frame["score"] >= 0.5) & (frame["score"] <= 1)).all()
    bounds = frame.geometry.bounds.round(6).to_numpy().tolist()
    # the tile at x = 16, y = 0 px: 8 m east of the corner, its top on the scene's top
    assert [400_008.0, 4_499_992.0, 400_016.0, 4_500_000.0] in bounds
    again = runner.invoke(app, [*cmd, "--out", str(layer)])
    assert again.exit_code == 2 and "Traceback" not in again.output
    assert runner.invoke(app, [*cmd, "--out", str(layer), "--overwrite"]).exit_code == 0


def test_bad_input_is_one_line(tmp_path, class_folders):  # noqa: F811
    r = runner.invoke(
        app,
        [
            "classify",
            "train",
            "--data",
            f"folder:{tmp_path}/none",
            "--model",
            "mlp",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 2 and "none: not a folder" in r.output
    r = runner.invoke(
        app,
        [
            "classify",
            "train",
            "--data",
            f"folder:{class_folders}",
            "--model",
            "vgg",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 2 and "unknown" in r.output
