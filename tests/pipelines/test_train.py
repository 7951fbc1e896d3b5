"""``rsdet train``'s pipeline: recipe lookup, override precedence, run-folder safety, resume."""

import pytest
import yaml
from rsdet.pipelines.train import RECIPES_DIR, TrainOptions, find_recipe, resolve_recipe, run_train

from rsdet.config import ConfigError
from rsdet.errors import InputError, OutputExistsError
from tests.engine.fake_network import register_fake, tiny_recipe_dict


@pytest.fixture
def recipe_file(tmp_path, monkeypatch):
    register_fake(monkeypatch)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe_dict(epochs=1)))
    return path


def test_packaged_recipes_are_found_by_name():
    assert find_recipe("rs_tinynet_synthetic") == RECIPES_DIR / "rs_tinynet_synthetic.yaml"
    assert find_recipe("rs_tinynet_trees.yaml") == RECIPES_DIR / "rs_tinynet_trees.yaml"
    with pytest.raises(InputError, match=r"nope: no such recipe .*rs_tinynet_trees"):
        find_recipe("nope")


def test_dedicated_options_beat_set_overrides_which_beat_the_file(recipe_file, tmp_path):
    opts = TrainOptions(
        data="synthetic:?n=1",
        epochs=7,
        out=tmp_path / "run",
        sets=["epochs=3", "optim.lr=0.5", "data.val=null"],
    )
    r = resolve_recipe(recipe_file, opts)
    assert (r.epochs, r.optim.lr, r.data.train, r.data.val) == (7, 0.5, "synthetic:?n=1", None)
    assert r.output.dir == str(tmp_path / "run")


def test_misspelt_override_names_the_recipe_file(recipe_file):
    with pytest.raises(ConfigError, match=r"tiny\.yaml: unknown key optim\.lrr"):
        resolve_recipe(recipe_file, TrainOptions(sets=["optim.lrr=1"]))


def test_a_finished_run_is_never_clobbered_without_overwrite(recipe_file, tmp_path):
    out = tmp_path / "run"
    opts = TrainOptions(recipe=str(recipe_file), out=out, quiet=True)
    run_train(opts)
    assert {p.name for p in out.iterdir()} == {"best.pt", "last.pt", "metrics.csv", "recipe.yaml"}
    with pytest.raises(OutputExistsError, match="pass --resume to continue it or --overwrite"):
        run_train(opts)
    (out / "notes.txt").write_text("mine")
    run_train(TrainOptions(recipe=str(recipe_file), out=out, overwrite=True, quiet=True))
    assert (out / "notes.txt").read_text() == "mine"  # only the run's own files are replaced


def test_resume_continues_from_the_run_folder_recipe(recipe_file, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(InputError, match=r"no last\.pt to resume from"):
        run_train(TrainOptions(out=out, resume=True))
    run_train(TrainOptions(recipe=str(recipe_file), out=out, quiet=True))
    saved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert saved["output"]["dir"] == str(out) and saved["epochs"] == 1
    result = run_train(TrainOptions(out=out, resume=True, epochs=2, quiet=True))
    assert result.epochs == 2
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
