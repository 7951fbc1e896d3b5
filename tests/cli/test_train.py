"""``rsdet train`` end to end through the CLI: recipe -> checkpoint -> load_model -> predict."""

import pytest
import yaml
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet import load_model
from rsdet.synthetic import make_scene
from tests.engine.fake_network import register_fake, tiny_recipe_dict


@pytest.fixture
def recipe_file(tmp_path, monkeypatch):
    register_fake(monkeypatch)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe_dict()))
    return path


def run(*args):
    return CliRunner().invoke(app, ["train", *map(str, args)])


def test_train_writes_a_model_that_detects(recipe_file, tmp_path):
    out = tmp_path / "run"
    r = run("--recipe", recipe_file, "--out", out, "--epochs", "1", "--batch-size", "2",
            "--device", "cpu", "--set", "data.windows_per_epoch=4")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Trained 1 epochs" in r.output and str(out / "best.pt") in r.output
    model = load_model(out / "best.pt", device="cpu")
    boxes, scores, labels = model.predict(make_scene(0, 96, "vehicles").image)
    assert boxes.shape[1] == 4 and scores.shape == labels.shape
    assert model.classes == ("vehicle",)


def test_user_mistakes_are_one_line_errors(recipe_file, tmp_path):
    out = tmp_path / "run"
    r = run("--recipe", recipe_file, "--out", out, "--set", "optim.lrr=1")
    assert r.exit_code == 2
    assert r.output.strip().startswith("Error:") and "unknown key optim.lrr" in r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert run("--recipe", recipe_file, "--out", out, "--quiet").exit_code == 0
    again = run("--recipe", recipe_file, "--out", out, "--quiet")
    assert again.exit_code == 2 and "already holds a training run" in again.output
    missing = run("--recipe", tmp_path / "nope.yaml")
    assert missing.exit_code == 2 and "no such recipe file" in missing.output
    bad_data = run("--recipe", recipe_file, "--out", tmp_path / "r2", "--data", f"voc:{tmp_path}/x")
    assert bad_data.exit_code == 2 and "not found" in bad_data.output
