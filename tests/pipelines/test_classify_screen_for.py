"""``rsdet classify train --screen-for MODEL``: a screener matched to a detector, and
``rsdet detect --screen`` refusing or warning when it meets another detector."""

import json
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from rsdet.cli.main import app
from rsdet.pipelines.classify import detector_match
from rsdet.pipelines.detect_scene import DetectOptions, detect_to_file
from typer.testing import CliRunner

from rsdet.classify import load_classifier, load_tiles
from rsdet.classify.screen import ScreenWarning, file_sha256
from rsdet.errors import InputError
from tests.pipelines.detect_doubles import (
    Planted,
    planted_spec,
    register_planted,
    write_planted_checkpoint,
    write_scene,
)

# The detector's classes are car / vehicle / tank; synthetic "mixed" scenes share "vehicle".
DATA = "synthetic:?n=3&size=256&kind=mixed&seed=1"
CLASSES = ("car", "vehicle", "tank")


def spec(**kw):
    return replace(planted_spec(**kw), classes=CLASSES)


@pytest.fixture
def detector(tmp_path, monkeypatch):
    register_planted(monkeypatch)
    return write_planted_checkpoint(tmp_path / "det.pt", spec(tile_size=64, overlap=16))


def train(tmp_path, detector, data=DATA):
    out = tmp_path / "screener"
    args = ["classify", "train", "--data", data, "--model", "tinynet-cnn", "--size", "32"]
    args += ["--widths", "4,8", "--epochs", "1", "--batch", "4", "--out", str(out)]
    torch.manual_seed(0)
    return CliRunner().invoke(app, [*args, "--screen-for", str(detector)]), out


def test_tiles_are_cut_and_labelled_as_the_detector_sees_them(tmp_path, detector):
    result, out = train(tmp_path, detector)
    assert result.exit_code == 0, result.output
    clf = load_classifier(out)
    made = clf.meta["screen_for"]
    assert made["tile_size"] == 64 and made["overlap"] == 16
    assert made["classes"] == list(CLASSES) and made["bands"] == [1, 2, 3]
    assert made["sha256"] == file_sha256(detector) and made["model"] == "det.pt"
    assert json.loads((out / "report.json").read_text())["screen_for"] == made
    # 3 scenes of 256 px in 64 px tiles; "object" = holds a vehicle (the one shared class)
    match, _ = detector_match(str(detector))
    tiles = load_tiles(DATA, 32, match)
    same = load_tiles(DATA + "&tile=64&object=vehicle", 32)
    assert len(tiles) == 48 and 0 < tiles.labels.sum() < 48
    assert np.array_equal(tiles.labels, same.labels)
    assert np.array_equal(tiles.images, same.images)  # uint8 RGB: the same pixels
    assert 0 <= clf.meta["screen_thr"] <= 1


def test_data_without_the_detectors_classes_is_a_one_line_error(tmp_path, detector):
    result, _ = train(tmp_path, detector, "synthetic:?n=1&size=128&kind=trees")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no class of the detector" in result.stderr


def test_detect_refuses_another_tile_size_and_warns_for_another_model(tmp_path, detector):
    _, out = train(tmp_path, detector)
    scene = tmp_path / "scene.tif"
    write_scene(scene, 128, 128, [Planted(10, 10, 8, 8, 1, 0.9)])
    screen = str(out / "classifier.pt")
    with pytest.raises(InputError, match=r"made for 64 px tiles of det\.pt"):
        opts = DetectOptions(32, 8, screen=screen)
        detect_to_file([str(scene)], tmp_path / "a.gpkg", str(detector), opts, quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScreenWarning)  # the model it was made for: silent
        opts = DetectOptions(64, 16, screen=screen)
        detect_to_file([str(scene)], tmp_path / "b.gpkg", str(detector), opts, quiet=True)
    other = write_planted_checkpoint(tmp_path / "other.pt", spec(tile_size=64, high=254.0))
    with pytest.warns(ScreenWarning, match="another checkpoint"):
        detect_to_file([str(scene)], tmp_path / "c.gpkg", str(other), opts, quiet=True)
