"""User errors on the command line: one ``Error:`` line, no traceback, nothing left behind.

Root ignores chmod, so an unwritable folder is simulated: a path under a regular file, or
``os.replace`` answering PermissionError as a read-only mount does.
"""

import os

import numpy as np
import pytest
import rasterio
import yaml
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet.io.journal import journal_path
from rsdet.io.lock import lock_path, output_lock
from tests.engine.fake_network import register_fake, tiny_recipe_dict
from tests.pipelines.detect_doubles import (
    Planted,
    register_planted,
    write_planted_checkpoint,
    write_scene,
)

OBJECTS = [Planted(10, 56, 10, 16, 0, 0.9), Planted(100, 130, 8, 8, 1, 0.7)]


@pytest.fixture
def model(tmp_path, monkeypatch):
    register_planted(monkeypatch)
    return str(write_planted_checkpoint(tmp_path / "planted.pt"))


@pytest.fixture
def scene(tmp_path):
    path = tmp_path / "scene.tif"
    write_scene(path, 120, 160, OBJECTS)
    with rasterio.open(path, "r+") as ds:  # band 3 spans the model's range, as photos do
        ds.write(np.tile(np.linspace(0, 255, 160, dtype=np.uint8), (120, 1)), 3)
    return path


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments):
    """The one ``Error:`` line of a failed command (exit status 2, no traceback)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- detect ----------------------------------------------------------------------------
def test_a_truncated_scene_fails_in_one_line_and_leaves_no_journal(tmp_path, model, scene):
    cut = tmp_path / "cut.tif"
    cut.write_bytes(scene.read_bytes()[: scene.stat().st_size // 2])
    before = files(tmp_path)
    out = tmp_path / "o.gpkg"
    for _ in range(2):  # the retry meets the same error, not "an interrupted run left..."
        r = run("detect", cut, "--out", out, "--model", model, "-q")
        one_line_error(r, f"{cut}: cannot read its pixels", "truncated or damaged")
        assert files(tmp_path) == before


def test_out_under_a_file_fails_before_any_work(tmp_path, model, scene):
    (tmp_path / "file.txt").write_text("x")
    before = files(tmp_path)
    r = run("detect", scene, "--out", tmp_path / "file.txt" / "o.gpkg", "--model", model, "-q")
    one_line_error(r, "o.gpkg: cannot create its folder", "file.txt is a file")
    assert files(tmp_path) == before


def test_a_failed_write_keeps_the_journal_and_resume_writes_the_layer(
    tmp_path, model, scene, monkeypatch
):
    out = tmp_path / "o.gpkg"
    real_replace = os.replace

    def read_only(src, dst):  # the layer's folder turned read-only while the model ran
        if str(dst).endswith((".gpkg", ".qml")):
            raise PermissionError(13, "Permission denied", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", read_only)
    r = run("detect", scene, "--out", out, "--model", model, "-q")
    line = one_line_error(r, "cannot write the layer (Permission denied)", "--resume")
    assert str(journal_path(out)) in line and journal_path(out).exists()
    assert not out.exists() and not lock_path(out).exists()
    monkeypatch.setattr(os, "replace", real_replace)
    r = run("detect", scene, "--out", out, "--model", model, "-q", "--resume")
    assert r.exit_code == 0, r.output
    assert out.exists() and not journal_path(out).exists() and not lock_path(out).exists()


def test_a_second_run_on_a_busy_output_refuses_without_pointing_to_resume(tmp_path, model, scene):
    out = tmp_path / "o.gpkg"
    journal_path(out).write_text("{}\n")  # what the live run has written so far
    with output_lock(out):
        r = run("detect", scene, "--out", out, "--model", model, "-q")
    line = one_line_error(r, f"{out}: another rsdet run (PID {os.getpid()} on ")
    assert "--resume" not in line
    assert journal_path(out).read_text() == "{}\n"  # the live run's journal is untouched


def test_a_stale_lock_of_a_dead_run_is_taken_over(tmp_path, model, scene):
    out = tmp_path / "o.gpkg"
    lock_path(out).write_text("999999999 some-host-long-gone\n")  # not locked by anyone
    r = run("detect", scene, "--out", out, "--model", model, "-q")
    assert r.exit_code == 0, r.output
    assert out.exists() and not lock_path(out).exists()


def test_bands_that_the_model_cannot_read_are_named_in_its_words(tmp_path, model, scene):
    out = tmp_path / "o.gpkg"
    r = run("detect", scene, "--out", out, "--model", model, "--bands", "1,2", "-q")
    line = one_line_error(r, "--bands 1,2: the model reads 3 bands, got 2")
    assert "input.mean" not in line
    assert not journal_path(out).exists()


@pytest.mark.parametrize(
    ("content", "what"), [(b"hello", "PyTorch cannot load it"), (b"", "empty")]
)
def test_a_file_that_is_no_model(tmp_path, scene, content, what):
    junk = tmp_path / "notes.pt"
    junk.write_bytes(content)
    r = run("detect", scene, "--out", tmp_path / "o.gpkg", "--model", junk, "-q")
    line = one_line_error(r, f"{junk} is not an rsdet model file: ", what)
    assert "KeyError" not in line and "EOFError" not in line


# --- demo, eval -------------------------------------------------------------------------
def test_demo_into_a_read_only_folder(tmp_path, monkeypatch):
    def read_only(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", read_only)
    r = run("demo", tmp_path / "scene.tif", "--size", "64")
    one_line_error(r, "scene.tif: cannot", "Permission denied")
    assert files(tmp_path) == []


def test_demo_under_a_file(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    one_line_error(run("demo", tmp_path / "file.txt" / "s.tif", "--size", "64"), "file.txt")
    assert files(tmp_path) == ["file.txt"]


# --- train ------------------------------------------------------------------------------
@pytest.fixture
def recipe_file(tmp_path, monkeypatch):
    register_fake(monkeypatch)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe_dict(epochs=1)))
    return path


def test_train_on_missing_data_writes_nothing_and_the_retry_runs(tmp_path, recipe_file):
    out = tmp_path / "run"
    missing = tmp_path / "nowhere"
    for _ in range(2):  # the retry is not told that a run is already there
        r = run("train", "--recipe", recipe_file, "--out", out, "--data", f"dota:{missing}", "-q")
        one_line_error(r, str(missing))
        assert not out.exists()
    r = run("train", "--recipe", recipe_file, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    assert {p.name for p in out.iterdir()} == {"best.pt", "last.pt", "metrics.csv", "recipe.yaml"}


def test_train_into_a_busy_run_folder_refuses(tmp_path, recipe_file):
    out = tmp_path / "run"
    out.mkdir()
    with output_lock(out, out / ".rsdet-lock"):
        r = run("train", "--recipe", recipe_file, "--out", out, "-q")
    line = one_line_error(r, f"{out}: another rsdet run (PID {os.getpid()}")
    assert "--resume" not in line
    assert files(out) == []


def test_train_whose_model_does_not_build_leaves_no_recipe_behind(tmp_path, recipe_file):
    out = tmp_path / "run"
    r = run("train", "--recipe", recipe_file, "--out", out, "-q", "--set", "device=cuda:7")
    one_line_error(r)
    assert not out.exists()


# --- split ------------------------------------------------------------------------------
def test_split_of_a_truncated_scene_fails_the_same_way_again_then_resumes(tmp_path, scene):
    cut = tmp_path / "cut.tif"
    cut.write_bytes(scene.read_bytes()[: scene.stat().st_size // 2])
    args = ("split", f"geo:{cut}", "--out", tmp_path / "patches", "--size", "64", "--gap", "8")
    for _ in range(2):  # the patches cut before the bad block do not block the retry
        one_line_error(run(*args), f"{cut}: cannot read pixels (", "truncated or damaged")
    cut.write_bytes(scene.read_bytes())  # the complete file, downloaded again
    r = run(*args, "-q")
    assert r.exit_code == 0, r.output


# --- eval -------------------------------------------------------------------------------
def test_eval_json_out_under_a_file_fails_before_scoring(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    r = run("eval", "-p", "dota", "--gt", "synthetic:?n=1&size=64", "--pred", tmp_path / "p",
            "--json-out", tmp_path / "file.txt" / "r.json")  # fmt: skip
    one_line_error(r, "r.json: cannot create its folder", "file.txt is a file")
    assert files(tmp_path) == ["file.txt"]
