"""Recipes: the packaged ones load, mistakes name the file and the key."""

from pathlib import Path

import pytest

from rsdet.config import ConfigError
from rsdet.engine.recipe import load_recipe

RECIPES = sorted((Path(__file__).parents[2] / "pipelines" / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_packaged_recipes_are_valid(path):
    recipe = load_recipe(path)
    assert recipe.epochs >= 1 and recipe.data.train


def test_misspelt_key_names_the_file_and_the_dotted_key(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: {arch: x}\ndata: {train: 'synthetic:', tile_sise: 64}\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: unknown key data\.tile_sise"):
        load_recipe(path)


def test_wrong_type_and_out_of_range_values(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: {arch: x}\ndata: {train: 'synthetic:'}\nepochs: many\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: epochs: expected an integer"):
        load_recipe(path)
    path.write_text("model: {arch: x}\ndata: {train: 'synthetic:'}\n")
    with pytest.raises(ConfigError, match=r"data\.augment\.scale: invalid value"):
        load_recipe(path, ["data.augment.scale=[2, 1]"])
    with pytest.raises(ConfigError, match=r"unknown key optim\.lrr"):
        load_recipe(path, ["optim.lrr=0.1"])
    with pytest.raises(ConfigError, match="device: invalid value 'gpu'"):
        load_recipe(path, ["device=gpu"])
    assert load_recipe(path, ["device=cuda:1"]).device == "cuda:1"


def test_domain_randomisation_ranges_are_checked_when_the_recipe_is_read(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: {arch: x}\ndata: {train: 'synthetic:'}\n")
    with pytest.raises(ConfigError, match=r"data\.augment\.jpeg_quality: invalid value 0"):
        load_recipe(path, ["data.augment.jpeg_quality=0"])
    with pytest.raises(ConfigError, match=r"data\.augment\.sensor_gsd_m: invalid value"):
        load_recipe(path, ["data.augment.sensor_gsd_m=[0.3, 0.1]", "model.input.gsd_m=0.1"])
    with pytest.raises(ConfigError, match=r"sensor_gsd_m: needs model\.input\.gsd_m"):
        load_recipe(path, ["data.augment.sensor_gsd_m=[0.1, 0.3]"])
    r = load_recipe(path, ["data.augment.sensor_gsd_m=[0.05, 0.3]", "model.input.gsd_m=0.1"])
    assert r.data.augment.sensor_gsd_m == (0.05, 0.3)


def test_overrides_reach_nested_values(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: {arch: x, config: {size: n}}\ndata: {train: 'synthetic:'}\n")
    r = load_recipe(path, ["model.config.size=s", "optim.lr=0.5", "schedule.milestones=[8, 11]"])
    assert r.model.config == {"size": "s"} and r.optim.lr == 0.5
    assert r.schedule.milestones == (8, 11)


def test_a_bad_architecture_key_is_reported_when_the_recipe_is_read(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: {arch: rs_tinynet, config: {sise: n}}\ndata: {train: 'synthetic:'}\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: model\.config: unknown key sise"):
        load_recipe(path)
    with pytest.raises(ConfigError, match=r"model\.config: strides: expected doubling"):
        load_recipe(path, ["model.config={strides: [4, 16]}"])
