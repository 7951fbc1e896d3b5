"""What a newcomer reads first: ``--help`` of every command, ``--version``, ``info --list``."""

import json
import re
from importlib import metadata
from typing import Any

import pytest
import typer
from rsdet.cli.main import app
from rsdet.pipelines.train import RECIPES_DIR
from typer.testing import CliRunner

from rsdet.models.zoo import DEFAULT_MODEL, PACKAGED_MODELS


def command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of the app, as the words that call it."""
    paths = [path]
    # A group has ``commands`` (typer ships its own click, so no isinstance on click.Group).
    for name, sub in getattr(command, "commands", {}).items():
        paths += command_paths(sub, (*path, name))
    return paths


ALL_COMMANDS = command_paths(typer.main.get_command(app))


def help_text(*words: str) -> str:
    r = CliRunner().invoke(app, [*words, "--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    return r.output


def test_the_walk_finds_every_command():
    names = {" ".join(p) for p in ALL_COMMANDS}
    assert {"", "detect", "train", "eval", "split", "info", "export", "demo"} <= names
    assert "classify train" in names


@pytest.mark.parametrize("words", ALL_COMMANDS, ids=lambda p: " ".join(p) or "rsdet")
def test_help_shows_no_bool_placeholder_and_no_default_named_default(words):
    text = help_text(*words)
    assert "<bool>" not in text  # a flag takes no value
    assert "[default: default]" not in text  # name the model: trees
    flags = re.findall(r"--help\s+(\S+)", text)
    assert flags[:1] == ["Show"], flags  # --help is followed by its help, no type


def test_detect_names_the_default_model_it_uses():
    assert f"[default: {DEFAULT_MODEL}]" in help_text("detect")


def test_eval_help_mentions_geo_ground_truth():
    text = " ".join(help_text("eval").split())
    assert "geo:" in text


def test_version_prints_the_installed_version():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0
    assert r.output.strip() == f"rsdet {metadata.version('rsdet')}"


def test_info_lists_packaged_models_and_recipes():
    r = CliRunner().invoke(app, ["info", "--list"])
    assert r.exit_code == 0, r.output
    recipes = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
    assert "rs_tinynet_trees" in recipes
    for name in [*PACKAGED_MODELS, *recipes]:
        assert re.search(rf"^  {name}\s", r.output, re.M), name
    assert re.search(rf"^  {DEFAULT_MODEL}\s.*\(default\)$", r.output, re.M)
    data = json.loads(CliRunner().invoke(app, ["info", "--list", "--json"]).stdout)
    assert data["default_model"] == DEFAULT_MODEL
    assert [r["name"] for r in data["recipes"]] == recipes
    assert all(r["summary"] for r in data["recipes"])


def test_info_with_a_model_and_list_is_a_one_line_error():
    r = CliRunner().invoke(app, ["info", "trees", "--list"])
    assert r.exit_code == 2 and "give a MODEL or --list, not both" in r.output
