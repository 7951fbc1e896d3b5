"""The tree-crown model shipped inside the package, and the README's main command with it."""

import json

import geopandas as gpd
import pytest
import rasterio
import torch
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet.evaluation import evaluate
from rsdet.models.checkpoint import read_checkpoint
from rsdet.models.zoo import DEFAULT_MODEL, PACKAGED_MODELS, load_model, resolve_model_path
from rsdet.structures import Detections, HBoxes
from rsdet.synthetic import make_scene
from tests.helpers import pixel_boxes


def test_default_model_ships_inside_the_package_as_inference_weights():
    assert DEFAULT_MODEL in PACKAGED_MODELS
    path = resolve_model_path("default")
    assert path == resolve_model_path(DEFAULT_MODEL) and path.is_file()
    assert path.stat().st_size < 8 * 2**20  # a wheel-friendly file
    ckpt = read_checkpoint(path)
    assert ckpt.train_state is None
    assert not any(k.startswith("aux_branch.") for k in ckpt.state_dict)  # deployed
    detector = load_model(device="cpu")
    assert detector.classes == ("Tree",) and not detector.oriented
    assert detector.spec.input.gsd_m == 0.1 and detector.spec.input.num_channels == 3
    # the default threshold is the held-out F1-best one, and the file says so (rsdet info)
    chosen = ckpt.provenance["score_thr"]
    assert "F1-best" in chosen and float(chosen.split(":")[0]) == ckpt.spec.score_thr
    assert {"heldout_AP50", "proxy_mean_AP50", "never_seen"} <= set(ckpt.provenance["transfer"])


def test_main_command_finds_the_demo_scene_crowns(tmp_path):
    # README: `rsdet demo scene.tif && rsdet detect scene.tif --out trees.gpkg`, then score the
    # polygons (mapped back to pixels) against the scene's exact ground truth.
    scene, out = tmp_path / "scene.tif", tmp_path / "trees.gpkg"
    runner = CliRunner()
    r = runner.invoke(app, ["demo", str(scene), "--size", "1024", "--seed", "0", "--quiet"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["detect", str(scene), "--out", str(out), "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    frame = gpd.read_file(out, layer="trees")
    with rasterio.open(scene) as src:
        assert frame.crs == src.crs
        boxes_px = torch.tensor(
            pixel_boxes(frame.geometry.values, src.transform), dtype=torch.float32
        )
    truth = make_scene(0, 1024, "trees")
    assert 0.7 * len(truth.labels) <= len(frame) <= 1.3 * len(truth.labels)
    dets = Detections(
        HBoxes(boxes_px),
        torch.tensor(frame["score"].to_numpy(), dtype=torch.float32),
        torch.zeros(len(frame), dtype=torch.long),
    )
    ap50 = evaluate("aitod", [truth], [dets], ("Tree",)).metrics["AP50"]
    # Measured with the shipped weights: 144 polygons for 151 crowns, AP50 0.87.
    assert ap50 > 0.7, (ap50, len(frame), len(truth.labels))
    # README: the demo's labels (scene.gpkg) and `rsdet eval` give the same figure.
    r = runner.invoke(
        app, ["eval", "-p", "aitod", "--gt", f"geo:{scene}", "--pred", str(out), "--json", "-q"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["metrics"]["AP50"] == pytest.approx(ap50, abs=1e-6)
