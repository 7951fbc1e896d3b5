"""The screener threshold: picked for tile recall on held-out tiles, stored, and reported."""

import json
import math

import numpy as np
import pytest
from rsdet.cli.main import app
from rsdet.pipelines.classify import TrainRequest, train_tile_classifier
from typer.testing import CliRunner

from rsdet.classify import TrainConfig, load_classifier, load_tiles, stratified_split
from rsdet.classify.screen import MAX_TILE_LOSS, load_screener, pick_threshold, recall_curve


def lost(p, is_object, thr):
    return int((p[is_object] < thr).sum())


def test_hand_case_skips_at_most_half_a_percent_of_object_tiles():
    # 400 object tiles scored 1/400 ... 400/400, 600 empty tiles scored 0: 0.5 % of 400 = 2
    p = np.concatenate([np.arange(1, 401) / 400, np.zeros(600)])
    is_object = np.arange(1000) < 400
    thr = pick_threshold(p, is_object)
    assert thr == 3 / 400
    assert lost(p, is_object, thr) == 2  # the budget, exactly
    assert lost(p, is_object, np.nextafter(thr, 1)) == 3  # any larger threshold loses more
    curve = recall_curve(p, is_object, [0.0, thr, 1.0])
    assert curve[1] == {"threshold": thr, "tile_recall": 398 / 400, "skipped": 0.602}
    assert curve[0]["tile_recall"] == 1.0 and curve[0]["skipped"] == 0.0


def test_ties_and_small_sets():
    # fewer than 200 object tiles: no loss allowed, the smallest object score is the threshold
    p = np.array([0.3, 0.3, 0.9, 0.1])
    is_object = np.array([True, True, True, False])
    assert pick_threshold(p, is_object) == 0.3 and lost(p, is_object, 0.3) == 0
    assert pick_threshold(p, np.zeros(4, bool)) == 0.0  # no object tiles: skip nothing


@pytest.mark.parametrize("seed", range(5))
def test_recall_guarantee_holds_on_the_tiles_it_was_picked_on(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 2000))
    is_object = rng.random(n) < 0.3
    p = np.where(is_object, rng.beta(5, 2, n), rng.beta(2, 5, n))
    thr = pick_threshold(p, is_object)
    assert lost(p, is_object, thr) <= math.floor(MAX_TILE_LOSS * is_object.sum())
    assert lost(p, is_object, np.nextafter(thr, 2)) > MAX_TILE_LOSS * is_object.sum()


SPEC = "synthetic:?n=6&size=128&kind=vehicles&seed=3&tile=32"


def test_train_stores_the_threshold_picked_on_the_held_out_tiles(tmp_path):
    req = TrainRequest(
        SPEC,
        "tinynet-cnn",
        tmp_path / "screen",
        size=32,
        widths=(4, 8),
        train=TrainConfig(epochs=2, batch=16),
    )
    summary = train_tile_classifier(req, lambda line: None)
    thr = summary["screen_thr"]
    assert 0.0 <= thr <= 1.0 and summary["screen_max_tile_loss"] == MAX_TILE_LOSS
    clf = load_classifier(tmp_path / "screen")
    assert clf.meta["screen_thr"] == thr and load_screener(tmp_path / "screen").threshold == thr
    # held out from training, the same split train used: tile recall >= 99.5 %
    tiles = load_tiles(SPEC, 32)
    _, val = stratified_split(tiles.labels, req.val_fraction, req.train.seed)
    is_object = tiles.labels[val] == 1
    assert is_object.any()
    p = clf.scores(tiles.images[val])[:, 1]
    assert lost(p, is_object, thr) <= MAX_TILE_LOSS * is_object.sum()
    # eval prints the recall / tiles-skipped curve, the stored threshold among its rows
    r = CliRunner().invoke(
        app, ["classify", "eval", "--data", SPEC, "--model", str(tmp_path / "screen")]
    )
    assert r.exit_code == 0, r.output
    assert "tile recall" in r.stdout and "tiles skipped" in r.stdout
    r = CliRunner().invoke(
        app, ["classify", "eval", "--data", SPEC, "--model", str(tmp_path / "screen"), "--json"]
    )
    curve = json.loads(r.stdout)[str(tmp_path / "screen")]["screen_curve"]
    assert thr in [row["threshold"] for row in curve]
    assert all(0 <= row["tile_recall"] <= 1 and 0 <= row["skipped"] <= 1 for row in curve)
