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


def _write_task1(folder: Path, samples, classes, keep=lambda sample: True) -> Path:
    """Every ground-truth object of the kept samples as a DOTA Task1 detection (score 1)."""
    lines = {name: [] for name in classes}
    for s in filter(keep, samples):
        for poly, label in zip(s.polygons, s.labels, strict=True):
            coords = " ".join(f"{v:.2f}" for v in poly.reshape(-1))
            lines[classes[label]].append(f"{s.image_id} 1.0 {coords}\n")
    folder.mkdir()
    for name, rows in lines.items():
        (folder / f"Task1_{name}.txt").write_text("".join(rows))
    return folder


def test_synthetic_ground_truth_is_read_through_the_dataset_loader(tmp_path):
    from rsdet.pipelines.evaluate import run_eval

    from rsdet.datasets import load_dataset

    spec = "synthetic:?n=2&size=128&seed=3&kind=vehicles"
    assert str(resolve_gt("dota", spec)) == spec
    gt = load_dataset(spec)
    assert gt.num_objects > 0
    perfect = _write_task1(tmp_path / "all", gt.samples, gt.classes)
    result = run_eval("dota", spec, perfect, quiet=True)
    assert result.metrics[result.primary] == pytest.approx(1.0)
    first_only = _write_task1(
        tmp_path / "first", gt.samples, gt.classes, lambda s: s is gt.samples[0]
    )
    assert run_eval("dota", spec, first_only, quiet=True).metrics[result.primary] < 1.0


def test_synthetic_ground_truth_is_refused_by_the_coco_protocols():
    with pytest.raises(GroundTruthSpecError, match="does not fit --protocol coco"):
        resolve_gt("coco", "synthetic:?n=2")
