"""Reading COCO ground truth and results: bad input stops with one line naming the entry."""

import json

import numpy as np
import pytest

from rsdet.evaluation import CocoFormatError, read_coco_gt, read_coco_results

GT = {
    "images": [{"id": 7, "file_name": "b.png"}, {"id": 3, "file_name": "a.png"}],
    "annotations": [
        {"id": 1, "image_id": 7, "category_id": 2, "bbox": [0, 0, 4, 4], "area": 10.0},
        {"id": 2, "image_id": 3, "category_id": 1, "bbox": [1, 1, 2, 2], "area": 4, "iscrowd": 1},
    ],
    "categories": [{"id": 2, "name": "ship"}, {"id": 1, "name": "plane"}],
}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_ground_truth_is_ordered_by_id_and_keeps_the_area_field(tmp_path):
    gt = read_coco_gt(write(tmp_path, "gt.json", GT)).gt
    assert gt.image_names == ("a.png", "b.png")  # ids 3, 7
    assert gt.class_names == ("plane", "ship")  # ids 1, 2
    assert gt.image.tolist() == [1, 0] and gt.label.tolist() == [1, 0]
    assert gt.area.tolist() == [10.0, 4.0]  # from "area", not w * h
    assert gt.crowd.tolist() == [False, True]


def test_results_map_ids_and_empty_list_is_fine(tmp_path):
    gt = read_coco_gt(write(tmp_path, "gt.json", GT))
    dets = read_coco_results(
        write(
            tmp_path,
            "p.json",
            [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}],
        ),
        gt,
    )
    assert dets.image.tolist() == [1] and dets.label.tolist() == [0]  # id 7 -> 2nd image
    assert len(read_coco_results(write(tmp_path, "e.json", []), gt).score) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"images": [', "gt.json:1: invalid JSON"),
        ([], "expected a JSON object"),
        ({"images": [], "categories": []}, "'annotations'"),
        (
            {**GT, "annotations": [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1]}]},
            "annotations[0]: missing 'area'",
        ),
        (
            {
                **GT,
                "annotations": [{"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1}],
            },
            "annotations[0]: image_id 9 is not an image",
        ),
        (
            {
                **GT,
                "annotations": [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 1], "area": 1}],
            },
            "annotations[0]: bbox must be 4 finite numbers",
        ),
        ({**GT, "images": [{"id": 1}, {"id": 1}]}, "duplicate image ids"),
    ],
)
def test_bad_ground_truth(tmp_path, data, message):
    with pytest.raises(
        CocoFormatError, match=message.replace("[", r"\[").replace("]", r"\]")
    ) as err:
        read_coco_gt(write(tmp_path, "gt.json", data))
    assert "\n" not in str(err.value)
    assert "gt.json" in str(err.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("[{]", "p.json:1: invalid JSON"),
        ({"annotations": []}, "expected a JSON list"),
        (
            [{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}],
            "detections[0]: image_id 99 is not an image of gt.json",
        ),
        (
            [{"image_id": 3, "category_id": 0, "bbox": [0, 0, 1, 1], "score": 1}],
            "detections[0]: category_id 0 is not a category of gt.json",
        ),
        (
            [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1]}],
            "detections[0]: missing 'score'",
        ),
        (
            [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "high"}],
            "score must be a finite number",
        ),
    ],
)
def test_bad_results(tmp_path, data, message):
    gt = read_coco_gt(write(tmp_path, "gt.json", GT))
    with pytest.raises(CocoFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_coco_results(write(tmp_path, "p.json", data), gt)


def test_missing_file(tmp_path):
    with pytest.raises(CocoFormatError, match="not found"):
        read_coco_gt(tmp_path / "nope.json")


def test_nan_coordinates_are_rejected(tmp_path):
    gt = read_coco_gt(write(tmp_path, "gt.json", GT))
    text = '[{"image_id": 3, "category_id": 1, "bbox": [NaN, 0, 1, 1], "score": 1}]'
    with pytest.raises(CocoFormatError, match="finite"):
        read_coco_results(write(tmp_path, "p.json", text), gt)
    assert np.isfinite(gt.gt.xywh).all()
