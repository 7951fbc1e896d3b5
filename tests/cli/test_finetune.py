"""``rsdet finetune`` through the CLI: before/after AP50 printed, --json, one-line errors."""

import json

from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet import load_model
from rsdet.models.checkpoint import read_checkpoint
from tests.engine.fake_network import register_fake
from tests.pipelines.finetune_scene import fake_base_model, labelled_scene


def run(*args):
    return CliRunner().invoke(app, ["finetune", *map(str, args)])


def test_finetune_prints_before_and_after_and_writes_a_model(tmp_path, monkeypatch):
    register_fake(monkeypatch)
    base = fake_base_model(tmp_path / "base.pt")
    scene, labels, _ = labelled_scene(tmp_path)
    out = tmp_path / "mine.pt"
    common = ("--model", base, "--iterations", 2, "--tile-size", 64, "--device", "cpu")
    r = run(scene, labels, "--out", out, *common, "--quiet")
    assert r.exit_code == 0, r.output
    assert "Hold-out AP50 (" in r.output and " -> after " in r.output
    assert f"Wrote {out}" in r.output
    assert load_model(out, device="cpu").classes == ("vehicle",)

    again = run(scene, labels, "--out", out, *common)
    assert again.exit_code == 2 and "already exists; pass --overwrite" in again.output
    assert read_checkpoint(out).provenance["recipe"]["optim"]["freeze_bn"] is True
    r = run(scene, labels, "--out", out, *common, "--overwrite", "--json", "--train-bn")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["iterations"] == 2 and result["out"] == str(out)
    assert read_checkpoint(out).provenance["recipe"]["optim"]["freeze_bn"] is False
    assert {"before_ap50", "after_ap50", "holdout_objects"} <= set(result)


def test_mistakes_are_one_line_errors(tmp_path):
    scene, labels, _ = labelled_scene(tmp_path)
    odd = run(scene, labels, scene, "--out", tmp_path / "x.pt")
    assert odd.exit_code == 2 and "expected SCENE.tif LABELS pairs" in odd.output
    swapped = run(labels, scene, "--out", tmp_path / "x.pt")
    assert swapped.exit_code == 2 and "a vector file after each scene" in swapped.output
    missing = run(scene, labels, "--out", tmp_path / "x.pt", "--model", tmp_path / "nope.pt")
    assert missing.exit_code == 2 and "no such model file" in missing.output
    for r in (odd, swapped, missing):
        assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
