"""Training data checks: nothing to learn is an error, bad boxes are dropped with a warning."""

import cv2
import numpy as np
import pytest

from rsdet.engine.data import load_data
from rsdet.errors import RsdetError


def write_voc(folder, name, boxes, classes=("Tree",), size=(60, 80)):
    """A VOC image + xml pair; ``boxes`` are (class, xmin, ymin, xmax, ymax)."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    cv2.imwrite(str(folder / f"{name}.png"), np.zeros((h, w, 3), np.uint8))
    objects = "".join(
        f"<object><name>{c}</name><difficult>0</difficult><bndbox><xmin>{x0}</xmin>"
        f"<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for c, x0, y0, x1, y1 in boxes
    )
    (folder / f"{name}.xml").write_text(
        f"<annotation><filename>{name}.png</filename><size><width>{w}</width>"
        f"<height>{h}</height><depth>3</depth></size>{objects}</annotation>"
    )
    (folder / "classes.txt").write_text("\n".join(classes) + "\n")


def test_synthetic_specs_load_in_memory():
    warnings = []
    d = load_data("synthetic:?n=2&size=200&kind=trees&seed=4", warnings.append)
    assert d.classes == ("tree",) and d.box_type == "hbox" and len(d.samples) == 2
    assert all(s.image is not None for s in d.samples)


def test_only_empty_label_files_is_an_error(tmp_path):
    write_voc(tmp_path, "a", [])
    write_voc(tmp_path, "b", [])
    with pytest.raises(RsdetError, match=r"voc:.*: none of its 2 images has a usable object"):
        load_data(f"voc:{tmp_path}", print)


def test_images_without_objects_are_kept_as_background_with_a_note(tmp_path):
    write_voc(tmp_path, "a", [("Tree", 1, 1, 10, 10)])
    write_voc(tmp_path, "b", [])
    notes = []
    d = load_data(f"voc:{tmp_path}", notes.append)
    assert [len(s) for s in d.samples] == [1, 0]
    assert notes == [f"voc:{tmp_path}: 1 of 2 images have no objects (background only)"]


def test_boxes_outside_the_image_are_dropped_with_a_warning_naming_the_file(tmp_path):
    write_voc(
        tmp_path, "a", [("Tree", 1, 1, 10, 10), ("Tree", 200, 5, 220, 20), ("Tree", 5, 5, 5, 9)]
    )
    notes = []
    d = load_data(f"voc:{tmp_path}", notes.append)
    assert len(d.samples[0]) == 1
    assert notes == [
        f"{tmp_path / 'a.png'}: 1 objects outside the 80x60 image and 1 of zero size are ignored"
    ]


def test_unknown_class_is_an_error_naming_the_file(tmp_path):
    write_voc(tmp_path, "a", [("Bush", 1, 1, 10, 10)])
    with pytest.raises(RsdetError, match=r"a\.xml.*Bush"):
        load_data(f"voc:{tmp_path}", print)


def test_missing_or_unlabelled_data_is_an_error(tmp_path):
    with pytest.raises(RsdetError, match="not found"):
        load_data(f"voc:{tmp_path / 'nowhere'}", print)
    with pytest.raises(RsdetError, match="sizee"):
        load_data("synthetic:?sizee=3", print)
