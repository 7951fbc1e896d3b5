"""Reading DOTA-style per-class result folders."""

import pytest

from rsdet.evaluation import SubmissionError, read_submission

IMAGES = {"P0001": 0, "P0002": 1}
CLASSES = ("plane", "ship", "Expressway-Service-area")


def folder(tmp_path, files):
    out = tmp_path / "pred"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    return out


def test_task1_lines_become_quads(tmp_path):
    pred = folder(
        tmp_path,
        {
            "Task1_plane.txt": "P0002 0.9 0 0 10 0 10 5 0 5\n\nP0001 0.5 1 1 2 1 2 2 1 2\n",
            "Task1_ship.txt": "",  # an empty file: no ship detections (the devkit crashes)
        },
    )
    dets = read_submission(pred, 1, IMAGES, CLASSES)
    assert dets.image.tolist() == [1, 0]
    assert dets.label.tolist() == [0, 0]
    assert dets.score.tolist() == [0.9, 0.5]
    assert dets.quads[0].tolist() == [[0, 0], [10, 0], [10, 5], [0, 5]]


def test_task2_boxes_become_corners_and_class_names_match_case_insensitively(tmp_path):
    pred = folder(tmp_path, {"Task2_expressway-service-area.txt": "P0001 0.7 1 2 11 12\n"})
    dets = read_submission(pred, 2, IMAGES, CLASSES)
    assert dets.label.tolist() == [2]
    assert dets.quads[0].tolist() == [[1, 2], [11, 2], [11, 12], [1, 12]]


@pytest.mark.parametrize(
    ("files", "task", "message"),
    [
        (
            {"Task1_plane.txt": "P0001 0.9 0 0 10 0 10 5 0\n"},
            1,
            r"Task1_plane.txt:1: expected 10 fields",
        ),
        (
            {"Task1_plane.txt": "\nP0001 0.9 0 0 10 0 10 x 0 5\n"},
            1,
            r"Task1_plane.txt:2: 'x' is not a number",
        ),
        (
            {"Task2_plane.txt": "P0001 0.9 0 0 10 5\nP9999 0.8 0 0 1 1\n"},
            2,
            r"Task2_plane.txt:2: image 'P9999' is not in the ground truth",
        ),
        ({"Task1_plane.txt": "P0001 nan 0 0 10 0 10 5 0 5\n"}, 1, "finite"),
        ({"Task1_planes.txt": ""}, 1, r"Task1_planes.txt: 'planes' is not a class"),
        ({"Task2_plane.txt": ""}, 1, "no Task1_<class>.txt result files .*Task2_"),
        ({}, 1, "no Task1_<class>.txt result files"),
    ],
)
def test_bad_submissions_name_file_and_line(tmp_path, files, task, message):
    pred = folder(tmp_path, files)
    with pytest.raises(SubmissionError, match=message) as err:
        read_submission(pred, task, IMAGES, CLASSES)
    assert "\n" not in str(err.value)


def test_missing_folder(tmp_path):
    with pytest.raises(SubmissionError, match="not a folder"):
        read_submission(tmp_path / "nope", 1, IMAGES, CLASSES)
