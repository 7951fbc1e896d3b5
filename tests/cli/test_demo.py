"""``rsdet demo``: a georeferenced synthetic scene, written safely."""

import numpy as np
import rasterio
from rsdet.cli.main import app
from typer.testing import CliRunner

from rsdet.datasets import load_dataset
from rsdet.synthetic import make_scene


def run(*args):
    return CliRunner().invoke(app, ["demo", *map(str, args)])


def test_demo_writes_the_scene_and_refuses_to_clobber_it(tmp_path):
    out = tmp_path / "scene.tif"
    r = run(out, "--size", "128", "--seed", "3", "--kind", "vehicles")
    assert r.exit_code == 0, r.output
    assert "Wrote" in r.output and "rsdet detect" in r.output
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32612 and src.res == (0.3, 0.3)
        assert np.array_equal(np.moveaxis(src.read(), 0, -1), make_scene(3, 128, "vehicles").image)
    again = run(out, "--size", "128")
    assert again.exit_code == 2 and "already exists" in again.output
    assert run(out, "--size", "96", "--gsd", "0.2", "--overwrite", "--quiet").exit_code == 0
    with rasterio.open(out) as src:
        assert src.width == 96 and src.res == (0.2, 0.2)


def test_demo_default_is_a_tree_scene_at_10cm(tmp_path):
    out = tmp_path / "trees.tif"
    assert run(out, "--size", "256", "--quiet").exit_code == 0
    with rasterio.open(out) as src:
        assert src.res == (0.1, 0.1) and src.count == 3
        assert 528000 <= src.bounds.left < 529000 and 4978000 < src.bounds.top <= 4979000


def test_demo_into_a_missing_folder_is_a_clear_error(tmp_path):
    r = run(tmp_path / "no" / "scene.tif", "--size", "64")
    assert r.exit_code == 2 and "no such folder" in r.output


def test_demo_writes_its_ground_truth_where_geo_reads_it(tmp_path):
    out = tmp_path / "scene.tif"
    r = run(out, "--size", "256", "--seed", "2")
    assert r.exit_code == 0, r.output
    assert "scene.gpkg" in r.output and "rsdet eval" in r.output and "geo:" in r.output
    ds = load_dataset(f"geo:{out}")
    truth = make_scene(2, 256, "trees")
    assert ds.classes == ("tree",) and ds.labelled
    sample = ds.samples[0]
    inside = (truth.polygons.min(axis=1) >= 0).all(axis=1) & (
        truth.polygons.max(axis=1) <= 256
    ).all(axis=1)
    # Objects wholly inside come back exactly (pixels -> UTM -> pixels); border ones clipped.
    np.testing.assert_allclose(sample.polygons[inside], truth.polygons[inside], atol=1e-6)
    assert len(sample) == len(truth)


def test_demo_never_replaces_labels_without_overwrite(tmp_path):
    labels = tmp_path / "scene.gpkg"
    labels.write_text("my labels")
    r = run(tmp_path / "scene.tif", "--size", "64")
    assert r.exit_code == 2 and "scene.gpkg: already exists" in r.output
    assert labels.read_text() == "my labels" and not (tmp_path / "scene.tif").exists()


def test_demo_hint_never_points_detect_at_the_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("trees.tif", "--size", "64")  # labels: trees.gpkg, the usual detect output name
    assert r.exit_code == 0, r.output
    assert "--out trees.gpkg" not in r.output and "--out found_trees.gpkg" in r.output
