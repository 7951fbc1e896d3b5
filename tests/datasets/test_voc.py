import numpy as np
import pytest

from rsdet.datasets import DatasetError, LabelError, load_dataset
from rsdet.datasets.voc_xml import format_voc_xml, parse_voc_xml

from .conftest import write_image, write_text


def _xml(filename, objects, size=(32, 48)):
    body = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin>"
        f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>\n"
        for n, b, d in objects
    )
    h, w = size
    return (
        f"<annotation>\n<filename>{filename}</filename>\n<size><width>{w}</width>"
        f"<height>{h}</height><depth>3</depth></size>\n{body}</annotation>\n"
    )


@pytest.fixture
def voc_root(tmp_path):
    root = tmp_path / "crowns"
    write_image(root / "JPEGImages" / "t1.png", 32, 48)
    write_image(root / "JPEGImages" / "t2.png", 32, 48)
    write_text(
        root / "Annotations" / "t1.xml",
        _xml("t1.png", [("Tree", (1, 2, 11, 12), 0), ("Snag", (20, 2, 30, 9), 1)]),
    )
    write_text(root / "Annotations" / "t2.xml", _xml("t2.png", []))
    return root


def test_reads_boxes_as_written_and_sorted_unique_classes(voc_root):
    ds = load_dataset(f"voc:{voc_root}")
    assert (ds.format, ds.box_type, ds.classes) == ("voc", "hbox", ("Snag", "Tree"))
    t1, t2 = ds.samples
    np.testing.assert_array_equal(t1.polygons[0], [[1, 2], [11, 2], [11, 12], [1, 12]])
    assert t1.labels.tolist() == [1, 0] and t1.difficulty.tolist() == [0, 1]
    assert (t1.height, t1.width) == (32, 48) and len(t2) == 0


def test_classes_txt_fixes_the_order_and_rejects_other_names(voc_root):
    write_text(voc_root / "classes.txt", "Tree\nSnag\n")
    assert load_dataset(f"voc:{voc_root}").samples[0].labels.tolist() == [0, 1]
    write_text(voc_root / "classes.txt", "Tree\n")
    with pytest.raises(LabelError, match=r"t1.xml:5: unknown class 'Snag'; known classes: Tree"):
        load_dataset(f"voc:{voc_root}")


def test_images_next_to_the_xml_and_size_from_the_image(tmp_path):
    write_image(tmp_path / "tile.tif", 20, 24)
    text = _xml("tile.tif", [("Tree", (1, 1, 5, 5), 0)]).replace(
        "<width>48</width><height>32</height>", ""
    )
    write_text(tmp_path / "tile.xml", text)
    sample = load_dataset(f"voc:{tmp_path}").samples[0]
    assert sample.image_path == tmp_path / "tile.tif" and (sample.height, sample.width) == (20, 24)


def test_malformed_xml_and_fields_name_the_line(voc_root):
    path = write_text(
        voc_root / "Annotations" / "t2.xml", "<annotation>\n<object>\n</annotation>\n"
    )
    with pytest.raises(LabelError, match=r"t2.xml:3: malformed XML"):
        load_dataset(f"voc:{voc_root}")
    path.write_text(_xml("t2.png", [("Tree", ("a", 1, 2, 3), 0)]))
    with pytest.raises(LabelError, match=r"t2.xml:4: <xmin> is not a number: 'a'"):
        load_dataset(f"voc:{voc_root}")
    path.write_text(_xml("t2.png", [("Tree", (5, 1, 2, 3), 0)]))
    with pytest.raises(LabelError, match=r"t2.xml:4: xmax < xmin"):
        load_dataset(f"voc:{voc_root}")


def test_missing_image_and_image_without_xml(voc_root):
    (voc_root / "JPEGImages" / "t2.png").unlink()
    with pytest.raises(DatasetError, match=r"t2.xml: its image t2.png is not in"):
        load_dataset(f"voc:{voc_root}")
    write_image(voc_root / "JPEGImages" / "t2.png")
    write_image(voc_root / "JPEGImages" / "t3.png")
    with pytest.raises(DatasetError, match=r"t3.png: no annotation file .*t3.xml"):
        load_dataset(f"voc:{voc_root}")


def test_split_file_selects_ids(voc_root):
    write_text(voc_root / "ImageSets" / "Main" / "val.txt", "t2\n")
    ds = load_dataset(f"voc:{voc_root}")
    assert [s.image_id for s in ds.samples] == ["t2"] and ds.meta["split"] == "val"


def test_written_xml_parses_back(tmp_path):
    polys = np.array([[[1.5, 2], [9, 2], [9, 7], [1.5, 7]]])
    text = format_voc_xml("x.png", (32, 48, 3), polys, np.array([0]), np.array([2]), ["Tree"])
    parsed = parse_voc_xml(write_text(tmp_path / "x.xml", text))
    assert (parsed.filename, parsed.height, parsed.width) == ("x.png", 32, 48)
    np.testing.assert_array_equal(parsed.objects[0].polygon, polys[0])
    assert parsed.objects[0].difficult == 2 and parsed.objects[0].name == "Tree"
