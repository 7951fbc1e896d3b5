"""prepare_trees: the two NEON crops of the deepforest wheel become train / val VOC folders."""

import zipfile

import cv2
import numpy as np
import pytest
from rsdet.pipelines.prepare_trees import SPLIT, main, prepare_trees

from rsdet.datasets import load_dataset
from rsdet.errors import InputError, OutputExistsError


def fake_wheel(path, boxes_per_image=2):
    """A zip laid out like the deepforest wheel, with tiny images and VOC files."""
    with zipfile.ZipFile(path, "w") as z:
        for name in SPLIT:
            _, png = cv2.imencode(".png", np.zeros((30, 40, 3), np.uint8))
            z.writestr(f"deepforest/data/{name}.png", png.tobytes())
            objects = "".join(
                f"<object><name>Tree</name><bndbox><xmin>{i}</xmin><ymin>1</ymin>"
                f"<xmax>{i + 5}</xmax><ymax>8</ymax></bndbox></object>"
                for i in range(boxes_per_image)
            )
            z.writestr(
                f"deepforest/data/{name}.xml",
                f"<annotation><filename>{name}.png</filename><size><width>40</width>"
                f"<height>30</height></size>{objects}</annotation>",
            )
        z.writestr("deepforest/__init__.py", "")
    return path


def test_crops_are_split_by_image_and_load_as_voc(tmp_path):
    wheel = fake_wheel(tmp_path / "deepforest-2.1.0-py3-none-any.whl")
    counts = prepare_trees(wheel, tmp_path / "trees")
    assert counts == {"train": 2, "val": 2}
    train = load_dataset(f"voc:{tmp_path / 'trees' / 'train'}")
    val = load_dataset(f"voc:{tmp_path / 'trees' / 'val'}")
    assert train.classes == ("Tree",) and [s.image_id for s in train.samples] == [
        "2019_YELL_2_528000_4978000_image_crop2"
    ]
    assert [s.image_id for s in val.samples] == ["2019_YELL_2_541000_4977000_image_crop"]
    assert (tmp_path / "trees" / "SOURCE.txt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "deepforest-2.1.0-py3-none-any.whl",
        "trees",
    ]


def test_existing_output_and_wrong_wheels_are_errors(tmp_path, capsys):
    wheel = fake_wheel(tmp_path / "w.whl")
    (tmp_path / "trees").mkdir()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        prepare_trees(wheel, tmp_path / "trees")
    prepare_trees(wheel, tmp_path / "trees", overwrite=True)
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("x.txt", "")
    with pytest.raises(InputError, match=r"expected the deepforest==2\.1\.0 wheel"):
        prepare_trees(other, tmp_path / "t2")
    assert not (tmp_path / "t2").exists()
    assert main([str(tmp_path / "missing.whl"), str(tmp_path / "t3")]) == 2
    assert "not a readable wheel" in capsys.readouterr().err
