"""Fine-tuning: ``model.init`` starts training from a checkpoint's weights."""

import pytest
import torch
import yaml
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet.config import ConfigError
from rsdet.engine.build import build_training_network, init_from_checkpoint
from rsdet.engine.recipe import load_recipe
from rsdet.errors import RsdetError
from rsdet.models.checkpoint import read_checkpoint
from rsdet.models.zoo import resolve_model_path
from tests.engine.fake_network import register_fake, tiny_recipe_dict

TREES = "rs_tinynet_trees"


def trees_model(**changes):
    from rsdet.pipelines.train import find_recipe

    return load_recipe(find_recipe(TREES), [f"model.{k}={v}" for k, v in changes.items()]).model


def test_fine_tuning_starts_from_the_default_model():
    model = trees_model(init="trees")
    network, _ = build_training_network(model, ("tree",))
    copied, fresh = init_from_checkpoint(network, model.arch, model.init)
    shipped = read_checkpoint(resolve_model_path("trees")).state_dict
    assert copied == len(shipped)
    # Only the training-only auxiliary branch (absent from deployed weights) starts fresh.
    assert fresh and all(name.startswith("aux_branch.") for name in fresh)
    own = network.state_dict()
    assert all(torch.equal(own[k], v) for k, v in shipped.items())


def test_other_classes_keep_a_fresh_class_layer():
    model = trees_model(init="trees")
    network, _ = build_training_network(model, ("conifer", "broadleaf", "snag"))
    before = {k: v.clone() for k, v in network.state_dict().items()}
    copied, fresh = init_from_checkpoint(network, model.arch, model.init)
    not_aux = [name for name in fresh if not name.startswith("aux_branch.")]
    assert not_aux and all(name.startswith("head.") for name in not_aux)
    after = network.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in fresh)
    assert copied == len(after) - len(fresh)


def test_a_checkpoint_of_another_architecture_is_a_config_error():
    model = trees_model(init="trees", arch="dcfl", box_type="rbox", config="{}")
    network, _ = build_training_network(model, ("tree",))
    with pytest.raises(ConfigError, match="holds a rs_tinynet network"):
        init_from_checkpoint(network, model.arch, model.init)


def test_a_missing_checkpoint_is_a_one_line_error_of_rsdet_train(tmp_path, monkeypatch):
    register_fake(monkeypatch)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe_dict(**{"model.init": "nowhere.pt"})))
    r = CliRunner().invoke(app, ["train", "--recipe", str(recipe), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "nowhere.pt: no such model file" in r.output
    assert "Traceback" not in r.output
    with pytest.raises(RsdetError):
        resolve_model_path("nowhere.pt")


def test_a_box_type_the_architecture_does_not_predict_is_refused():
    with pytest.raises(ConfigError, match=r"model\.box_type: rbox, but rs_tinynet predicts hbox"):
        build_training_network(trees_model(box_type="rbox"), ("tree",))


def test_the_checkpoint_spec_carries_every_model_default_of_the_recipe():
    from dataclasses import fields

    from rsdet.engine.build import model_spec
    from rsdet.models.spec import ModelDefaults

    model = trees_model(tile_size=640, overlap=96, pre_nms_top_k=500, description="x")
    spec = model_spec(model, ("tree",))
    assert (spec.arch, spec.classes) == ("rs_tinynet", ("tree",))
    for f in fields(ModelDefaults):
        assert getattr(spec, f.name) == getattr(model, f.name), f.name
