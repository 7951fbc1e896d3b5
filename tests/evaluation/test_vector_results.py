"""Detections written by ``rsdet detect`` (map coordinates) come back to each scene's pixels."""

import numpy as np
import pytest
import torch

from rsdet.datasets import load_dataset
from rsdet.evaluation.vector_results import VectorResultsError, read_vector_results
from rsdet.io.raster import read_scene_info
from rsdet.io.vector import combine_frames, detections_frame, write_layer
from rsdet.structures import Detections, HBoxes, RBoxes
from tests.datasets.geo_fixtures import px_box, write_labels, write_scene

BOXES = [[4.0, 4.0, 12.0, 8.0], [30.5, 10.25, 41.0, 22.0]]


def two_scenes(folder):
    """Scenes a.tif and b.tif (UTM 33N, 0.5 m), each labelled with one car."""
    for stem in ("a", "b"):
        write_scene(folder / f"{stem}.tif")
        write_labels(folder / f"{stem}.gpkg", [px_box(4, 4, 12, 8)], **{"class": ["car"]})
    return load_dataset(f"geo:{folder}")


def write_detections(path, folder, per_scene, classes=("car",)):
    """What rsdet detect writes: one layer for several scenes, ``scene`` = file name."""
    frames = []
    for name, dets in per_scene.items():
        info = read_scene_info(str(folder / name))
        frames.append(detections_frame(dets, info, classes, name))
    write_layer(combine_frames(frames), path, classes)
    return path


def hdets(boxes, scores):
    return Detections(HBoxes(torch.tensor(boxes)), torch.tensor(scores), torch.zeros(len(boxes)))


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp", ".parquet"])
def test_each_format_comes_back_to_the_pixels_it_was_written_from(tmp_path, suffix):
    ds = two_scenes(tmp_path)
    layer = write_detections(
        tmp_path / "out" / f"found{suffix}",
        tmp_path,
        {"a.tif": hdets(BOXES, [0.9, 0.4]), "b.tif": hdets(BOXES[:1], [0.7])},
    )
    dets = read_vector_results(layer, ds.samples, ds.classes)
    assert sorted(dets) == ["a", "b"]
    assert isinstance(dets["a"].boxes, HBoxes)
    # RFC 7946 GeoJSON stores WGS 84 degrees to 7 decimals (~1 cm): 0.02 px at 0.5 m.
    atol = 0.02 if suffix == ".geojson" else 1e-3
    np.testing.assert_allclose(dets["a"].boxes.numpy(), BOXES, atol=atol)
    np.testing.assert_allclose(dets["a"].scores.numpy(), [0.9, 0.4], atol=1e-6)
    np.testing.assert_allclose(dets["b"].boxes.numpy(), BOXES[:1], atol=atol)
    assert dets["b"].labels.tolist() == [0]


def test_oriented_detections_stay_oriented(tmp_path):
    ds = two_scenes(tmp_path)
    rbox = RBoxes(torch.tensor([[20.0, 15.0, 10.0, 4.0, 0.5]]))
    dets = Detections(rbox, torch.tensor([0.8]), torch.tensor([0]))
    layer = write_detections(tmp_path / "r.gpkg", tmp_path, {"b.tif": dets})
    back = read_vector_results(layer, ds.samples, ds.classes)["b"]
    assert isinstance(back.boxes, RBoxes)
    np.testing.assert_allclose(back.boxes.numpy(), rbox.numpy(), atol=1e-3)


def test_class_names_match_case_insensitively_and_unknown_ones_are_named(tmp_path):
    ds = two_scenes(tmp_path)
    ok = write_detections(
        tmp_path / "ok.gpkg", tmp_path, {"a.tif": hdets(BOXES, [0.9, 0.4])}, ("CAR",)
    )
    assert read_vector_results(ok, ds.samples, ds.classes)["a"].labels.tolist() == [0, 0]
    bad = write_detections(
        tmp_path / "bad.gpkg", tmp_path, {"a.tif": hdets(BOXES, [0.9, 0.4])}, ("ship",)
    )
    with pytest.raises(VectorResultsError, match=r"bad\.gpkg: feature \d+: class 'ship' is not"):
        read_vector_results(bad, ds.samples, ds.classes)


def test_a_scene_the_ground_truth_does_not_have_is_an_error_naming_it(tmp_path):
    ds = two_scenes(tmp_path / "gt")
    write_scene(tmp_path / "other" / "c.tif")
    layer = write_detections(
        tmp_path / "c.gpkg", tmp_path / "other", {"c.tif": hdets(BOXES, [0.9, 0.4])}
    )
    with pytest.raises(VectorResultsError, match=r"scene 'c\.tif' is not among .*\(a, b\)"):
        read_vector_results(layer, ds.samples, ds.classes)


def test_layers_that_cannot_be_scored_say_why(tmp_path):
    ds = two_scenes(tmp_path)
    with pytest.raises(VectorResultsError, match=r"missing\.gpkg: file not found"):
        read_vector_results(tmp_path / "missing.gpkg", ds.samples, ds.classes)
    with pytest.raises(VectorResultsError, match=r"x\.json: not a detections layer"):
        read_vector_results(tmp_path / "x.json", ds.samples, ds.classes)
    no_score = write_labels(tmp_path / "l" / "no_score.gpkg", [px_box(1, 1, 3, 3)], scene=["a.tif"])
    with pytest.raises(VectorResultsError, match=r"no_score\.gpkg: no 'score' attribute"):
        read_vector_results(no_score, ds.samples, ds.classes)
    no_scene = write_labels(tmp_path / "l" / "no_scene.gpkg", [px_box(1, 1, 3, 3)], score=[0.5])
    with pytest.raises(VectorResultsError, match=r"no 'scene' attribute .* 2 scenes"):
        read_vector_results(no_scene, ds.samples, ds.classes)
