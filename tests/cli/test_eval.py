"""``rsdet eval`` end to end on tiny datasets written by the tests."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from rsdet.cli.main import app
from typer.testing import CliRunner

runner = CliRunner()

COCO_GT = {
    "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
    "annotations": [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [10, 10, 6, 6],
            "area": 36,
            "iscrowd": 0,
        },
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 20, 20], "area": 400},
    ],
    "categories": [{"id": 1, "name": "vehicle"}, {"id": 2, "name": "ship"}],
}
COCO_PRED = [
    {"image_id": 1, "category_id": 1, "bbox": [10, 10, 6, 6], "score": 0.9},
    {"image_id": 2, "category_id": 2, "bbox": [40, 40, 20, 20], "score": 0.8},
]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def invoke(*args: str):
    return runner.invoke(app, ["eval", *args, "--quiet"])


@pytest.fixture
def coco_files(tmp_path):
    gt = write(tmp_path / "gt.json", json.dumps(COCO_GT))
    pred = write(tmp_path / "pred.json", json.dumps(COCO_PRED))
    return gt, pred


@pytest.fixture
def dota_root(tmp_path):
    """DOTA v1.0 val-like folder: P0001 has a plane and a difficult plane; P0002 is empty."""
    root = tmp_path / "DOTA"
    write(
        root / "labelTxt" / "P0001.txt",
        "imagesource:GoogleEarth\ngsd:0.5\n"
        "0 0 10 0 10 10 0 10 plane 0\n20 0 30 0 30 10 20 10 plane 1\n",
    )
    write(root / "labelTxt" / "P0002.txt", "")
    return root


def add_images(root: Path) -> None:
    for stem in ("P0001", "P0002"):
        (root / "images").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / "images" / f"{stem}.png"), np.zeros((40, 40, 3), np.uint8))


@pytest.fixture
def dota_pred(tmp_path):
    # d1 .9 on the difficult plane, d2 .8 on nothing, d3 .7 on the normal plane.
    return write(
        tmp_path / "pred" / "Task1_plane.txt",
        "P0001 0.9 20 0 30 0 30 10 20 10\n"
        "P0002 0.8 0 0 10 0 10 10 0 10\n"
        "P0001 0.7 0 0 10 0 10 10 0 10\n",
    ).parent


def test_coco_table_and_json(coco_files):
    gt, pred = coco_files
    result = invoke("--protocol", "coco", "--gt", str(gt), "--pred", str(pred))
    assert result.exit_code == 0, result.output
    assert "vehicle" in result.stdout and "ship" in result.stdout
    result = invoke("--protocol", "aitod", "--gt", f"aitod:{gt}", "--pred", str(pred), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["protocol"] == "aitod"
    # vehicle found exactly (AP 1/(1+eps)), ship missed (AP 0): AP is their mean.
    assert data["metrics"]["AP"] == pytest.approx(0.5)
    assert data["per_class"]["ship"]["AP"] == 0.0
    assert 0.0 <= data["metrics"]["AR1500"] <= 1.0


def test_json_out_is_written_once_and_only_replaced_with_overwrite(coco_files, tmp_path):
    gt, pred = coco_files
    out = tmp_path / "res" / "eval.json"
    args = ["--protocol", "coco", "--gt", str(gt), "--pred", str(pred), "--json-out", str(out)]
    assert invoke(*args).exit_code == 0
    first = json.loads(out.read_text())
    assert first["metrics"]["AP"] == pytest.approx(0.5)
    out.write_text("keep me")
    again = invoke(*args)
    assert again.exit_code == 2
    assert "already exists" in again.stderr and "--overwrite" in again.stderr
    assert out.read_text() == "keep me"
    assert invoke(*args, "--overwrite").exit_code == 0
    assert json.loads(out.read_text()) == first
    assert [p.name for p in out.parent.iterdir()] == ["eval.json"]  # no temp files left


@pytest.mark.parametrize(
    ("spec", "expected_ap"),
    [
        # v1.0: the difficult plane is ignored: d1 ignored, d2 FP, d3 TP -> AP 0.5.
        ("{root}", 0.5),
        ("dota:{root}", 0.5),
        # v1.5: counted: TP, FP, TP with npos 2 -> AP 28/33 (see tests/evaluation).
        ("dota1.5:{root}", 28 / 33),
    ],
)
def test_dota_labels_only(dota_root, dota_pred, spec, expected_ap):
    result = invoke(
        "--protocol",
        "dota",
        "--gt",
        spec.format(root=dota_root),
        "--pred",
        str(dota_pred),
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["per_class"]["plane"]["AP"] == pytest.approx(expected_ap)
    n_classes = len(data["per_class"])
    assert n_classes == (15 if expected_ap == 0.5 else 16)
    # Classes without GT score 0 and count in the mean (DOTA_devkit).
    assert data["metrics"]["mAP"] == pytest.approx(expected_ap / n_classes)


def test_dota_with_images_reads_through_the_dataset_loader(dota_root, dota_pred):
    add_images(dota_root)
    result = invoke(
        "--protocol", "dota", "--gt", str(dota_root), "--pred", str(dota_pred), "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["per_class"]["plane"]["AP"] == pytest.approx(0.5)


def test_dota_hbb(dota_root, tmp_path):
    pred = write(tmp_path / "hbb" / "Task2_plane.txt", "P0001 0.9 0 0 10 10\n").parent
    result = invoke("--protocol", "dota-hbb", "--gt", str(dota_root), "--pred", str(pred), "--json")
    assert result.exit_code == 0, result.output
    # The only non-difficult plane is found: rec 1, prec 1 -> AP 1.
    assert json.loads(result.stdout)["per_class"]["plane"]["AP"] == pytest.approx(1.0)


HBB_XML = """<annotation><size><width>40</width><height>40</height><depth>3</depth></size>
<object><name>{name}</name><difficult>0</difficult>
<bndbox><xmin>0</xmin><ymin>0</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object>
</annotation>"""


def test_dior_defaults_to_the_test_split(tmp_path):
    root = tmp_path / "DIOR"
    for image_id, split, name in (
        ("00001", "trainval", "vehicle"),
        ("00002", "test", "Expressway-toll-station"),
    ):
        write(
            root / "Annotations" / "Horizontal Bounding Boxes" / f"{image_id}.xml",
            HBB_XML.format(name=name),
        )
        (root / f"JPEGImages-{split}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(
            str(root / f"JPEGImages-{split}" / f"{image_id}.jpg"), np.zeros((40, 40, 3), np.uint8)
        )
    write(root / "ImageSets" / "Main" / "train.txt", "00001\n")
    write(root / "ImageSets" / "Main" / "test.txt", "00002\n")
    # IoU of (0,0,10,10) and (0,0,20,10) is exactly 0.5: a hit under mmdet's ">=".
    pred = write(
        tmp_path / "p" / "Task2_Expressway-toll-station.txt", "00002 0.9 0 0 20 10\n"
    ).parent
    result = invoke("--protocol", "dior", "--gt", str(root), "--pred", str(pred), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["per_class"]["expressway-toll-station"]["AP"] == pytest.approx(1.0)
    assert data["per_class"]["vehicle"]["AP"] is None  # not in the test split: no GT
    assert data["metrics"]["mAP"] == pytest.approx(1.0)  # classes without GT are skipped
    area = invoke(
        "--protocol", "dior", "--gt", str(root), "--pred", str(pred), "--json", "--ap-mode", "area"
    )
    assert json.loads(area.stdout)["settings"]["ap_mode"] == "area"


def test_unknown_image_in_predictions_is_a_one_line_error(dota_root, tmp_path):
    pred = write(
        tmp_path / "bad" / "Task1_plane.txt",
        "P0001 0.9 0 0 1 0 1 1 0 1\nP0404 0.8 0 0 1 0 1 1 0 1\n",
    ).parent
    result = invoke("--protocol", "dota", "--gt", str(dota_root), "--pred", str(pred))
    assert result.exit_code == 2
    assert "Task1_plane.txt:2" in result.stderr and "P0404" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--protocol", "coco", "--gt", "{gt_bad}", "--pred", "{pred}"],
            "gt.bad.json:2: invalid JSON",
        ),
        (
            ["--protocol", "dota", "--gt", "dior:{root}", "--pred", "{pred}"],
            "does not fit --protocol dota",
        ),
        (
            ["--protocol", "coco", "--gt", "{gt}", "--pred", "{pred}", "--ap-mode", "area"],
            "--ap-mode",
        ),
        (["--protocol", "dota", "--gt", "{root}", "--pred", "{tmp}/missing"], "not a folder"),
    ],
)
def test_user_errors(coco_files, dota_root, tmp_path, args, message):
    gt, pred = coco_files
    gt_bad = write(tmp_path / "gt.bad.json", "{\n")
    fields = {"gt": gt, "pred": pred, "gt_bad": gt_bad, "root": dota_root, "tmp": tmp_path}
    result = invoke(*(a.format(**fields) for a in args))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
