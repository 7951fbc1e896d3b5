"""prepare_trees: the two NEON crops of the deepforest wheel become train / val VOC folders."""

import zipfile

import cv2
import numpy as np
import pytest
from rsdet.pipelines.prepare_trees import IMAGES, main, prepare_trees

from rsdet.datasets import load_dataset
from rsdet.errors import InputError, OutputExistsError

# Boxes (x1, y1, x2, y2) in a 40 x 40 image cut at row 30 (the bottom quarter is val):
# one wholly above, one wholly below, one crossing with 5 of its 8 rows above (62 %).
BOXES = [(2, 1, 7, 8), (10, 32, 15, 38), (20, 25, 25, 33)]


def fake_wheel(path):
    """A zip laid out like the deepforest wheel, with tiny images and VOC files."""
    with zipfile.ZipFile(path, "w") as z:
        for name in IMAGES:
            _, png = cv2.imencode(".png", np.zeros((40, 40, 3), np.uint8))
            z.writestr(f"deepforest/data/{name}.png", png.tobytes())
            objects = "".join(
                f"<object><name>Tree</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
                f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
                for x1, y1, x2, y2 in BOXES
            )
            z.writestr(
                f"deepforest/data/{name}.xml",
                f"<annotation><filename>{name}.png</filename><size><width>40</width>"
                f"<height>40</height></size>{objects}</annotation>",
            )
        z.writestr("deepforest/__init__.py", "")
    return path


def test_each_image_is_split_by_rows_and_loads_as_voc(tmp_path):
    wheel = fake_wheel(tmp_path / "deepforest-2.1.0-py3-none-any.whl")
    counts = prepare_trees(wheel, tmp_path / "trees")
    assert counts == {"train": 4, "val": 4}  # per image: 2 crowns (parts) on each side
    train = load_dataset(f"voc:{tmp_path / 'trees' / 'train'}")
    val = load_dataset(f"voc:{tmp_path / 'trees' / 'val'}")
    assert train.classes == ("Tree",)
    assert [s.image_id for s in train.samples] == [f"{n}_train" for n in sorted(IMAGES)]
    assert [s.image_id for s in val.samples] == [f"{n}_val" for n in sorted(IMAGES)]
    top, bottom = train.samples[0], val.samples[0]
    assert (top.height, top.width, bottom.height) == (30, 40, 10)
    # The whole crown above the cut keeps its box; the crossing one is clipped at the cut and
    # flagged truncated on the side holding less than 70 % of it (here both sides).
    assert top.hboxes().tensor.tolist() == [[2, 1, 7, 8], [20, 25, 25, 30]]
    assert top.difficulty.tolist() == [0, 2]
    # Below the cut, rows are shifted by 30: (10, 32, 15, 38) -> (10, 2, 15, 8).
    assert bottom.hboxes().tensor.tolist() == [[10, 2, 15, 8], [20, 0, 25, 3]]
    assert bottom.difficulty.tolist() == [0, 2]
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
