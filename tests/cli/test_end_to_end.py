"""The whole product through the CLI: recipe -> checkpoint -> ``rsdet detect`` -> ``rsdet eval``."""

import json

import geopandas as gpd
import rasterio
from rsdet.cli.main import app
from typer.testing import CliRunner

from tests.helpers import pixel_boxes


def invoke(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r


def test_train_detect_eval_with_a_packaged_recipe(tmp_path):
    # A few iterations of the real RS-TinyNet-n recipe: the numbers mean nothing, the chain
    # (every file one command writes is what the next one reads) is what is tested.
    run = tmp_path / "run"
    invoke("train", "--recipe", "rs_tinynet_synthetic", "--out", run, "--epochs", "1",
           "--batch-size", "4", "--device", "cpu", "--quiet",
           "--set", "data.windows_per_epoch=8", "--set", "eval.precise_bn=0")  # fmt: skip
    scene, dets = tmp_path / "scene.tif", tmp_path / "cars.gpkg"
    invoke("demo", scene, "--kind", "vehicles", "--size", "256", "--seed", "0", "--quiet")
    invoke("detect", scene, "--model", run / "best.pt", "--out", dets, "--score-thr", "0.001",
           "--device", "cpu", "--quiet")  # fmt: skip
    frame = gpd.read_file(dets, layer="cars")
    assert set(frame.columns) >= {"class_id", "class_name", "score", "scene", "geometry"}
    assert set(frame["class_name"]) <= {"vehicle"}

    # Polygons (scene CRS) -> DOTA Task 2 lines in pixels of the synthetic ground truth image.
    with rasterio.open(scene) as src:
        boxes_px = pixel_boxes(frame.geometry.values, src.transform)
    lines = [
        f"synthetic_vehicles_0 {score:.4f} " + " ".join(f"{v:.2f}" for v in box)
        for score, box in zip(frame["score"], boxes_px, strict=True)
    ]
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "Task2_vehicle.txt").write_text("\n".join(lines) + "\n")

    gt = "synthetic:?n=1&size=256&seed=0&kind=vehicles"
    r = invoke("eval", "--protocol", "dota-hbb", "--gt", gt, "--pred", pred, "--json")
    result = json.loads(r.stdout)
    assert 0.0 <= result["metrics"]["mAP"] <= 1.0
    assert list(result["per_class"]) == ["vehicle"]
