import numpy as np
import pytest

from rsdet.datasets import DIOR_CLASSES, DatasetError, LabelError, load_dataset

from .conftest import write_image, write_text

HBB = """<annotation>
	<filename>{id}.jpg</filename>
	<size><width>32</width><height>32</height><depth>3</depth></size>
	<object>
		<name>{name}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
		<bndbox><xmin>3</xmin><ymin>4</ymin><xmax>13</xmax><ymax>9</ymax></bndbox>
	</object>
</annotation>
"""

OBB = """<annotation>
	<filename>{id}.jpg</filename>
	<size><width>32</width><height>32</height><depth>3</depth></size>
	<object>
		<type>robndbox</type><name>{name}</name><difficult>0</difficult>
		<robndbox><x_left_top>5</x_left_top><y_left_top>2</y_left_top>
		<x_right_top>12</x_right_top><y_right_top>9</y_right_top>
		<x_right_bottom>9</x_right_bottom><y_right_bottom>12</y_right_bottom>
		<x_left_bottom>2</x_left_bottom><y_left_bottom>5</y_left_bottom></robndbox>
		<angle>0</angle>
	</object>
</annotation>
"""


@pytest.fixture
def dior_root(tmp_path):
    root = tmp_path / "DIOR"
    names = {
        "00001": "Expressway-Service-area",
        "00002": "vehicle",
        "00003": "Expressway-toll-station",
    }
    folders = {"00001": "trainval", "00002": "trainval", "00003": "test"}
    for image_id, name in names.items():
        write_image(root / f"JPEGImages-{folders[image_id]}" / f"{image_id}.jpg", 32, 32)
        write_text(
            root / "Annotations" / "Horizontal Bounding Boxes" / f"{image_id}.xml",
            HBB.format(id=image_id, name=name),
        )
        write_text(
            root / "Annotations" / "Oriented Bounding Boxes" / f"{image_id}.xml",
            OBB.format(id=image_id, name=name),
        )
    write_text(root / "ImageSets" / "Main" / "train.txt", "00001\n")
    write_text(root / "ImageSets" / "Main" / "val.txt", "00002\n")
    write_text(root / "ImageSets" / "Main" / "test.txt", "00003\n")
    return root


def test_trainval_is_train_plus_val_and_names_are_case_normalised(dior_root):
    ds = load_dataset(f"dior:{dior_root}?split=trainval")
    assert (ds.format, ds.box_type, ds.classes, ds.meta["split"]) == (
        "dior",
        "hbox",
        DIOR_CLASSES,
        "trainval",
    )
    assert [s.image_id for s in ds.samples] == ["00001", "00002"]
    assert ds.samples[0].labels.tolist() == [DIOR_CLASSES.index("expressway-service-area")]
    np.testing.assert_array_equal(ds.samples[0].polygons[0], [[3, 4], [13, 4], [13, 9], [3, 9]])


def test_test_split_reads_its_own_image_folder(dior_root):
    ds = load_dataset(f"dior:{dior_root}?split=test")
    assert ds.samples[0].image_path.parent.name == "JPEGImages-test"
    assert ds.samples[0].labels.tolist() == [DIOR_CLASSES.index("expressway-toll-station")]


def test_dior_r_keeps_the_eight_corner_order(dior_root):
    ds = load_dataset(f"dior-r:{dior_root}?split=val")
    assert (ds.format, ds.box_type) == ("dior-r", "rbox")
    np.testing.assert_array_equal(ds.samples[0].polygons[0], [[5, 2], [12, 9], [9, 12], [2, 5]])


def test_several_splits_need_a_choice(dior_root):
    with pytest.raises(
        DatasetError,
        match=r"holds several splits; choose one with \?split=NAME \(available: test, train, val\)",
    ):
        load_dataset(f"dior:{dior_root}")
    with pytest.raises(DatasetError, match=r"trainvall.txt: split file not found"):
        load_dataset(f"dior:{dior_root}?split=trainvall")


def test_id_without_annotation_names_the_split_line(dior_root):
    write_text(dior_root / "ImageSets" / "Main" / "val.txt", "00002\n\n09999\n")
    with pytest.raises(DatasetError, match=r"val.txt:3: annotation .*09999.xml not found"):
        load_dataset(f"dior:{dior_root}?split=val")


def test_unknown_class_lists_the_dior_classes(dior_root):
    xml = dior_root / "Annotations" / "Horizontal Bounding Boxes" / "00002.xml"
    xml.write_text(HBB.format(id="00002", name="car"))
    with pytest.raises(
        LabelError, match=r"00002.xml:4: unknown class 'car'; known classes: airplane, airport"
    ):
        load_dataset(f"dior:{dior_root}?split=val")


def test_missing_image_is_named(dior_root):
    (dior_root / "JPEGImages-test" / "00003.jpg").unlink()
    with pytest.raises(DatasetError, match=r"00003.xml: its image 00003.jpg is not in"):
        load_dataset(f"dior:{dior_root}?split=test")
