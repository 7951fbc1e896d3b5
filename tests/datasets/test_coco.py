import json

import numpy as np
import pytest

from rsdet.datasets import AITOD_CLASSES, DatasetError, LabelError, load_dataset
from rsdet.datasets.coco import coco_document

from .conftest import write_image


def _categories():
    # Listed out of order on purpose: labels follow the ids, not the list order.
    ids = [3, 1, 2, 4, 5, 6, 7, 8]
    return [{"id": i, "name": AITOD_CLASSES[i - 1], "supercategory": "none"} for i in ids]


def _aitod(tmp_path, annotations=None, subset="trainval"):
    root = tmp_path / "aitod"
    write_image(root / "images" / subset / "a.png", 32, 48)
    write_image(root / "images" / subset / "b.png", 32, 32)
    doc = {
        "images": [
            {"id": 1, "file_name": "a.png", "height": 32, "width": 48},
            {"id": 2, "file_name": "b.png", "height": 32, "width": 32},
        ],
        "annotations": annotations
        if annotations is not None
        else [
            {
                "id": 7,
                "image_id": 1,
                "category_id": 6,
                "bbox": [2, 3, 4.5, 5],
                "area": 22.5,
                "iscrowd": 0,
            },
            {
                "id": 8,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 10, 3, 2],
                "area": 6.0,
                "iscrowd": 1,
            },
        ],
        "categories": _categories(),
    }
    path = root / "annotations" / "small_trainval_v1_1.0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc, indent=1))
    return path


def test_official_layout_is_found_and_boxes_become_corners(tmp_path):
    path = _aitod(tmp_path)
    ds = load_dataset(f"aitod:{path}")
    assert (ds.format, ds.version, ds.box_type) == ("aitod", "1", "hbox")
    assert ds.classes == AITOD_CLASSES and ds.meta["category_ids"] == tuple(range(1, 9))
    assert ds.root == tmp_path / "aitod"
    a, b = ds.samples
    assert a.image_path == tmp_path / "aitod" / "images" / "trainval" / "a.png"
    np.testing.assert_array_equal(a.polygons[0], [[2, 3], [6.5, 3], [6.5, 8], [2, 8]])
    assert a.labels.tolist() == [5, 0]  # vehicle (id 6), airplane (id 1)
    assert a.crowd.tolist() == [False, True]
    assert a.meta["ann_ids"].tolist() == [7, 8] and a.meta["areas"].tolist() == [22.5, 6.0]
    assert a.meta["coco_id"] == 1
    assert len(b) == 0  # listed image without annotations


def test_images_option_and_test_folder(tmp_path):
    path = _aitod(tmp_path, subset="test")
    assert load_dataset(f"aitod:{path}").samples[0].image_path.parent.name == "test"
    other = tmp_path / "elsewhere"
    write_image(other / "a.png")
    write_image(other / "b.png")
    ds = load_dataset(f"aitod:{path}?images={other}")
    assert ds.samples[0].image_path == other / "a.png"


def test_missing_image_is_named(tmp_path):
    path = _aitod(tmp_path)
    (tmp_path / "aitod" / "images" / "trainval" / "b.png").unlink()
    with pytest.raises(DatasetError, match=r"trainval/b.png: image listed in .*json not found"):
        load_dataset(f"aitod:{path}")


@pytest.mark.parametrize(
    ("ann", "fragment"),
    [
        (
            {"id": 1, "image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]},
            r"annotations\[0\] \(id 1\): unknown category_id 9",
        ),
        (
            {"id": 1, "image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1]},
            "image_id 5 is not in 'images'",
        ),
        (
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1]},
            "width and height must be >= 0",
        ),
        (
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1]},
            r"'bbox' must be 4 numbers",
        ),
    ],
)
def test_bad_annotations_are_reported(tmp_path, ann, fragment):
    path = _aitod(tmp_path, annotations=[ann])
    with pytest.raises(LabelError, match=fragment):
        load_dataset(f"aitod:{path}")


def test_invalid_json_names_the_line(tmp_path):
    path = _aitod(tmp_path)
    path.write_text('{"images": [\n  1,\n  oops\n]}')
    with pytest.raises(LabelError, match=r"json:3: invalid JSON"):
        load_dataset(f"aitod:{path}")


def test_a_folder_instead_of_the_json_is_explained(tmp_path):
    _aitod(tmp_path)
    with pytest.raises(DatasetError, match="names the COCO json file"):
        load_dataset(f"aitod:{tmp_path / 'aitod'}")


def test_written_document_reads_back_identically(tmp_path):
    ds = load_dataset(f"aitod:{_aitod(tmp_path)}")
    samples = ds.samples
    samples[0].difficulty[0] = 2
    doc = coco_document(samples, ["a.png", "b.png"], ds.meta["category_ids"], ds.classes)
    assert [a["id"] for a in doc["annotations"]] == [1, 2]  # never 0
    assert doc["annotations"][0]["difficult"] == 2 and "difficult" not in doc["annotations"][1]
    out = tmp_path / "aitod" / "annotations" / "copy.json"
    out.write_text(json.dumps(doc))
    back = load_dataset(f"aitod:{out}")
    np.testing.assert_array_equal(back.samples[0].polygons, samples[0].polygons)
    assert back.samples[0].labels.tolist() == samples[0].labels.tolist()
    assert back.samples[0].difficulty.tolist() == [2, 0]
    assert back.samples[0].crowd.tolist() == [False, True]
