import numpy as np
import pytest

from rsdet.classify.data import load_tiles, stratified_split, to_rgb8
from rsdet.errors import InputError
from rsdet.synthetic import make_scene


def test_class_folders_load_sorted_and_resized(class_folders):
    tiles = load_tiles(f"folder:{class_folders}", 16)
    assert tiles.classes == ("dark", "stripes")
    assert tiles.images.shape == (20, 16, 16, 3)
    assert np.bincount(tiles.labels).tolist() == [10, 10]
    assert tiles.ids[0].endswith("dark/00.png")


def test_a_missing_or_single_class_folder_is_named(tmp_path, class_folders):
    with pytest.raises(InputError, match="nope"):
        load_tiles(f"folder:{tmp_path / 'nope'}", 16)
    with pytest.raises(InputError, match="two class"):
        load_tiles(f"folder:{class_folders / 'dark'}", 16)


def test_detection_tiles_are_labelled_by_visible_objects():
    spec = "synthetic:?n=1&size=256&kind=vehicles&seed=3"
    tiles = load_tiles(f"{spec}&tile=64&visible=0.5", 64)
    assert tiles.classes == ("empty", "object") and len(tiles) == 16
    scene = make_scene(3 * 100003, 256, "vehicles")
    boxes = np.concatenate([scene.polygons.min(1), scene.polygons.max(1)], axis=1)
    for tile_id, label in zip(tiles.ids, tiles.labels, strict=True):
        x, y = map(int, tile_id.split("@")[1].split(","))
        w = np.clip(np.minimum(boxes[:, 2], x + 64) - np.maximum(boxes[:, 0], x), 0, None)
        h = np.clip(np.minimum(boxes[:, 3], y + 64) - np.maximum(boxes[:, 1], y), 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        assert label == int(np.any(w * h / area >= 0.5))
    assert 0 < tiles.labels.sum() < 16


def test_a_bad_tile_option_or_class_is_one_error():
    with pytest.raises(InputError, match="visible"):
        load_tiles("synthetic:?n=1&size=64&visible=2", 32)
    with pytest.raises(InputError, match="object='boat'"):
        load_tiles("synthetic:?n=1&size=64&kind=vehicles&object=boat", 32)


def test_stratified_split_holds_out_each_class():
    labels = np.array([0] * 10 + [1] * 5 + [2])
    train, held = stratified_split(labels, 0.2, seed=1)
    assert np.bincount(labels[held], minlength=3).tolist() == [2, 1, 0]
    assert sorted([*train, *held]) == list(range(16))
    again = stratified_split(labels, 0.2, seed=1)
    assert (again[1] == held).all()


def test_to_rgb8_stretches_and_repeats_bands():
    one = np.arange(100, dtype=np.uint16).reshape(10, 10, 1) * 100
    out = to_rgb8(one)
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    assert out[0, 0, 0] == 0 and out[-1, -1, 2] == 255
