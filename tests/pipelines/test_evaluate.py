"""How ``rsdet eval`` reads its ground-truth argument for each protocol."""

from pathlib import Path

import pytest
from rsdet.pipelines.evaluate import GroundTruthSpecError, resolve_gt


@pytest.mark.parametrize(
    ("protocol", "text", "expected"),
    [
        ("coco", "ann/test.json", "coco:ann/test.json"),
        ("aitod", "ann/test.json", "aitod:ann/test.json"),
        ("aitod", "aitod:ann/test.json?images=img", "aitod:ann/test.json?images=img"),
        ("dota", "data/val", "dota:data/val"),
        ("dota-hbb", "dota1.5:data/val", "dota1.5:data/val"),
        ("dota", "DOTA2:data/val", "dota2:data/val"),
        ("dior-r", "dior-r:D?split=val", "dior-r:D?split=val"),
        ("dota", "C:/data/val", "dota:C:/data/val"),  # a drive letter is not a format
    ],
)
def test_plain_paths_and_specs(protocol, text, expected):
    assert str(resolve_gt(protocol, text)) == expected


def test_dior_plain_path_picks_the_test_split_when_there_is_one(tmp_path):
    assert str(resolve_gt("dior", str(tmp_path))) == f"dior:{tmp_path}"
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "test.txt").write_text("00001\n")
    assert str(resolve_gt("dior", str(tmp_path))) == f"dior:{tmp_path}?split=test"


@pytest.mark.parametrize(
    ("protocol", "text"),
    [("dota", "dior:x"), ("dior", "dior-r:x"), ("coco", "dota:x"), ("dior-r", "dota1.5:x")],
)
def test_format_must_fit_the_protocol(protocol, text):
    with pytest.raises(GroundTruthSpecError, match=f"does not fit --protocol {protocol}"):
        resolve_gt(protocol, text)


def test_unknown_protocol():
    with pytest.raises(GroundTruthSpecError, match="unknown protocol"):
        resolve_gt("voc", str(Path("x")))
