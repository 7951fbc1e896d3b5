"""``rsdet eval --gt geo:...``: score the layer ``rsdet detect`` wrote against your own scenes."""

import json

import numpy as np
import pytest
import torch
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet.datasets import load_dataset
from rsdet.evaluation import evaluate
from rsdet.io.raster import read_scene_info
from rsdet.io.vector import detections_frame, write_layer
from rsdet.structures import Detections, HBoxes

PROTOCOLS = ["coco", "aitod", "dota", "dota-hbb", "dior", "dior-r"]
PRIMARY = {"coco": "AP50", "aitod": "AP50", "dota": "mAP", "dota-hbb": "mAP"}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 256 px demo tree scene, its labels (scene.gpkg) and the geo: reading of both."""
    folder = tmp_path_factory.mktemp("geo_eval")
    r = invoke("demo", folder / "scene.tif", "--size", "256", "--seed", "1", "--quiet")
    assert r.exit_code == 0, r.output
    return folder, load_dataset(f"geo:{folder / 'scene.tif'}")


def truth_as_detections(sample, keep):
    """Every ``keep``-th ground-truth box as a detection, scores falling with the index."""
    quads = sample.polygons[::keep]
    boxes = np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1)
    scores = np.linspace(0.9, 0.5, len(boxes))
    return Detections(
        HBoxes(torch.tensor(boxes, dtype=torch.float32)),
        torch.tensor(scores, dtype=torch.float32),
        torch.zeros(len(boxes), dtype=torch.int64),
    )


def write_found(folder, dets, name):
    """The layer rsdet detect writes for the scene (class name as the model spells it)."""
    info = read_scene_info(str(folder / "scene.tif"))
    frame = detections_frame(dets, info, ("Tree",), "scene.tif")
    path = folder / name
    write_layer(frame, path, ("Tree",), overwrite=True)
    return path


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_scores_a_detect_layer_against_geo_labels(scene, protocol):
    folder, ds = scene
    found = write_found(folder, truth_as_detections(ds.samples[0], keep=2), "found.geojson")
    r = invoke("eval", "--protocol", protocol, "--gt", f"geo:{folder}/scene.tif", "--pred",
               found, "--json", "--quiet")  # fmt: skip
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert list(result["per_class"]) == ["tree"]
    # The same detections, in pixels, scored in memory: the CLI found them all again.
    direct = evaluate(protocol, ds.samples, [truth_as_detections(ds.samples[0], 2)], ds.classes)
    key = PRIMARY.get(protocol, "mAP")
    assert result["metrics"][key] == pytest.approx(direct.metrics[key], abs=1e-6)
    assert 0.3 < result["metrics"][key] < 0.7  # half of the crowns found, no false positive


def test_perfect_detections_score_one_through_a_geopackage(scene):
    folder, ds = scene
    found = write_found(folder, truth_as_detections(ds.samples[0], keep=1), "all.gpkg")
    r = invoke("eval", "-p", "aitod", "--gt", f"geo:{folder}", "--pred", found, "--json", "-q")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["metrics"]["AP50"] == pytest.approx(1.0)


def test_geo_ground_truth_with_a_coco_json_says_what_pred_must_be(scene):
    folder, _ = scene
    r = invoke("eval", "-p", "coco", "--gt", f"geo:{folder}/scene.tif", "--pred",
               folder / "dets.json", "-q")  # fmt: skip
    assert r.exit_code == 2
    assert "dets.json: with geo: ground truth, --pred is the layer rsdet detect wrote" in r.output


def test_voc_protocols_also_take_a_task_folder_named_by_scene_stem(scene, tmp_path):
    folder, ds = scene
    dets = truth_as_detections(ds.samples[0], keep=1)
    lines = [f"scene {s:.3f} " + " ".join(f"{v:.3f}" for v in box)
             for s, box in zip(dets.scores.tolist(), dets.boxes.numpy(), strict=True)]  # fmt: skip
    (tmp_path / "Task2_tree.txt").write_text("\n".join(lines) + "\n")
    r = invoke("eval", "-p", "dota-hbb", "--gt", f"geo:{folder}/scene.tif", "--pred", tmp_path,
               "--json", "-q")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["metrics"]["mAP"] == pytest.approx(1.0)
