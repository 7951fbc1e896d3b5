import numpy as np
import pytest

from rsdet.datasets import DOTA_CLASSES, DatasetError, LabelError, load_dataset
from rsdet.datasets.classes import ClassLookup
from rsdet.datasets.dota import format_dota_labels, parse_dota_labels

from .conftest import write_image, write_text


def test_reads_header_objects_and_empty_files(dota_root):
    ds = load_dataset(f"dota:{dota_root}")
    assert (ds.format, ds.version, ds.box_type, ds.labelled) == ("dota", "1.0", "rbox", True)
    assert ds.classes == DOTA_CLASSES["1.0"] and len(ds.classes) == 15
    p1, p2 = ds.samples
    assert (p1.image_id, p1.height, p1.width) == ("P0001", 40, 64)
    assert p1.meta == {"imagesource": "GoogleEarth", "gsd": pytest.approx(0.146)}
    np.testing.assert_array_equal(p1.polygons[1], [[30.5, 5], [40, 5], [40, 12], [30.5, 12]])
    assert p1.labels.tolist() == [0, 4]  # plane, small-vehicle
    assert p1.difficulty.tolist() == [0, 1]
    assert len(p2) == 0 and p2.polygons.shape == (0, 4, 2)


def test_nine_token_lines_and_non_numeric_gsd(tmp_path):
    path = write_text(tmp_path / "a.txt", "gsd:null\n1 1 2 1 2 2 1 2 ship\n\n")
    polys, labels, diff, header = parse_dota_labels(path, ClassLookup(DOTA_CLASSES["1.0"]))
    assert header == {"gsd": None}
    assert labels.tolist() == [6] and diff.tolist() == [0] and polys.shape == (1, 4, 2)


def test_malformed_line_names_file_and_line(dota_root):
    path = write_text(dota_root / "labelTxt" / "P0002.txt", "1 1 2 1 2 2 1 2 ship 0\nx y 3 plane\n")
    with pytest.raises(LabelError) as err:
        load_dataset(f"dota:{dota_root}")
    assert str(err.value) == (
        f"{path}:2: expected 8 coordinates, a class name and an optional difficult flag, "
        "got 'x y 3 plane'"
    )


def test_non_numeric_coordinate_and_bad_difficult_flag(tmp_path):
    lookup = ClassLookup(DOTA_CLASSES["1.0"])
    bad = write_text(tmp_path / "a.txt", "1 1 2 1 2 2 1 x ship 0\n")
    with pytest.raises(LabelError, match=r"a.txt:1: .*must be numbers"):
        parse_dota_labels(bad, lookup)
    bad.write_text("1 1 2 1 2 2 1 2 ship 3\n")
    with pytest.raises(LabelError, match=r"a.txt:1: difficult flag must be 0, 1 or 2, got '3'"):
        parse_dota_labels(bad, lookup)


def test_class_of_a_later_version_is_unknown_in_v1_but_fine_in_v15(dota_root):
    write_text(dota_root / "labelTxt" / "P0002.txt", "1 1 9 1 9 9 1 9 container-crane 0\n")
    with pytest.raises(
        LabelError, match=r"P0002.txt:1: unknown class 'container-crane'; known classes: plane,"
    ):
        load_dataset(f"dota:{dota_root}")
    ds = load_dataset(f"dota1.5:{dota_root}")
    assert ds.version == "1.5" and ds.samples[1].labels.tolist() == [15]
    assert load_dataset(f"dota2:{dota_root}").classes[-3:] == (
        "container-crane",
        "airport",
        "helipad",
    )


def test_image_without_label_file_is_an_error(dota_root):
    write_image(dota_root / "images" / "P0003.jpg")
    with pytest.raises(DatasetError, match=r"P0003.jpg: no label file .*P0003.txt"):
        load_dataset(f"dota:{dota_root}")


def test_label_file_without_image_is_an_error(dota_root):
    write_text(dota_root / "labelTxt" / "P0009.txt", "")
    with pytest.raises(DatasetError, match=r"P0009.txt: no image P0009.\* in"):
        load_dataset(f"dota:{dota_root}")


def test_without_labeltxt_the_set_is_unlabelled(tmp_path):
    write_image(tmp_path / "images" / "P0100.jpg", 20, 30)
    ds = load_dataset(f"dota:{tmp_path}")
    assert not ds.labelled and len(ds.samples) == 1 and len(ds.samples[0]) == 0
    assert (ds.samples[0].height, ds.samples[0].width) == (20, 30)


def test_two_images_with_one_stem_are_ambiguous(dota_root):
    write_image(dota_root / "images" / "P0001.jpg")
    with pytest.raises(DatasetError, match="two images named 'P0001'"):
        load_dataset(f"dota:{dota_root}")


def test_format_round_trips_through_the_parser(tmp_path):
    polys = np.array([[[0.5, 1], [10.25, 1], [10.25, 8], [0.5, 8]]])
    text = format_dota_labels(polys, np.array([2]), np.array([2]), DOTA_CLASSES["1.0"])
    assert text == "0.5 1 10.25 1 10.25 8 0.5 8 bridge 2\n"
    path = write_text(tmp_path / "a.txt", text)
    back, labels, diff, header = parse_dota_labels(path, ClassLookup(DOTA_CLASSES["1.0"]))
    np.testing.assert_array_equal(back, polys)
    assert labels.tolist() == [2] and diff.tolist() == [2] and header == {}


def test_bom_and_windows_line_endings_are_accepted(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfimagesource:GF-2\r\ngsd:0.8\r\n1 1 2 1 2 2 1 2 ship 0\r\n")
    _, labels, _, header = parse_dota_labels(path, ClassLookup(DOTA_CLASSES["1.0"]))
    assert header == {"imagesource": "GF-2", "gsd": 0.8} and labels.tolist() == [6]


def test_ground_truth_only_layout_reads_labels_without_images(tmp_path):
    # The official evaluation layout: labelTxt/ alone, or the labelTxt folder itself.
    labels = tmp_path / "labelTxt"
    labels.mkdir()
    (labels / "P0001.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.5\n0 0 10 0 10 5 0 5 plane 1\n"
    )
    (labels / "P0002.txt").write_text("")
    for root in (tmp_path, labels):
        ds = load_dataset(f"dota:{root}")
        assert [s.image_id for s in ds.samples] == ["P0001", "P0002"]
        first = ds.samples[0]
        assert first.image_path is None and (first.height, first.width) == (0, 0)
        assert first.labels.tolist() == [0] and first.difficulty.tolist() == [1]
        assert len(ds.samples[1]) == 0
