"""``split_dataset``: patches and labels written in the input format, read back by load_dataset."""

import json

import numpy as np
import pytest
import rasterio
import shapely
from rsdet.pipelines.split import MANIFEST_NAME, SplitError, SplitParams, split_dataset

from rsdet.datasets import (
    AITOD_CLASSES,
    load_dataset,
    parse_patch_name,
    read_image,
)
from rsdet.errors import OutputExistsError
from rsdet.structures import TRUNCATED
from tests.datasets.conftest import write_image, write_text
from tests.datasets.geo_fixtures import ORIGIN_X, ORIGIN_Y, RES, px_box, write_labels, write_scene

# 50 x 70 image, 32 px patches, gap 8 (step 24): columns 0, 24, 38 and rows 0, 18.
PARAMS = SplitParams(size=32, gap=8)


@pytest.fixture
def dota(tmp_path):
    root = tmp_path / "dota"
    write_image(root / "images" / "P1.png", 50, 70, seed=1)
    write_image(root / "images" / "P2.png", 20, 20, seed=2)  # smaller than a patch
    write_text(
        root / "labelTxt" / "P1.txt",
        "imagesource:GoogleEarth\ngsd:0.5\n"
        "10 10 20 10 20 20 10 20 plane 0\n"  # inside the first window
        "28 5 36 5 36 15 28 15 ship 1\n"  # cut at x = 32 by window (0, 0): half inside
        "40 30 48 34 44 42 36 38 small-vehicle 0\n",  # rotated
    )
    write_text(root / "labelTxt" / "P2.txt", "")
    return root


def _mapped_back(ds):
    """Patch objects in source pixels: {source id: [(label, polygon)]}."""
    out = {}
    for s in ds.samples:
        origin = parse_patch_name(s.image_id)
        for poly, label in zip(s.polygons, s.labels, strict=True):
            out.setdefault(origin.image_id, []).append((label, origin.points_to_source(poly)))
    return out


def test_dota_round_trip_covers_every_object(dota, tmp_path):
    out = tmp_path / "out"
    report = split_dataset(f"dota:{dota}", out, PARAMS, quiet=True)
    assert (report.sources, report.patches, report.images_written) == (2, 7, 7)
    ds = load_dataset(f"dota:{out}")
    assert len(ds.samples) == 7 and all((s.height, s.width) == (32, 32) for s in ds.samples)
    assert "imagesource" not in (out / "labelTxt" / "P1__1__0___0.txt").read_text()
    source = load_dataset(f"dota:{dota}").samples[0]
    pieces = _mapped_back(ds)["P1"]
    for poly, label in zip(source.polygons, source.labels, strict=True):
        whole = shapely.Polygon(poly).convex_hull
        mine = [shapely.Polygon(p).buffer(1e-6) for lab, p in pieces if lab == label]
        covered = shapely.union_all(mine).intersection(whole).area
        assert covered == pytest.approx(whole.area, rel=1e-6)


def test_cut_objects_are_clipped_and_truncated_below_the_threshold(dota, tmp_path):
    out = tmp_path / "out"
    split_dataset(f"dota:{dota}", out, PARAMS, quiet=True)
    first = (out / "labelTxt" / "P1__1__0___0.txt").read_text().splitlines()
    # The ship (28..36) keeps half of its width in window 0..32: clipped, difficulty 2.
    assert first == ["10 10 20 10 20 20 10 20 plane 0", "28 5 32 5 32 15 28 15 ship 2"]
    # Window 24..56 holds the whole ship: its own difficulty (1) is kept.
    assert "4 5 12 5 12 15 4 15 ship 1" in (out / "labelTxt" / "P1__1__24___0.txt").read_text()


def test_patch_pixels_are_the_source_window_and_small_images_are_padded(dota, tmp_path):
    out = tmp_path / "out"
    split_dataset(f"dota:{dota}", out, PARAMS, quiet=True)
    src = read_image(dota / "images" / "P1.png")
    origin = parse_patch_name("P1__1__38___18")
    patch = read_image(out / "images" / f"{origin.name}.png")
    assert np.array_equal(patch, src[18:50, 38:70])
    small = read_image(out / "images" / "P2__1__0___0.png")
    assert small.shape == (32, 32, 3) and not small[20:].any() and not small[:, 20:].any()
    assert np.array_equal(small[:20, :20], read_image(dota / "images" / "P2.png"))


def test_rates_resize_before_cutting_and_map_back(dota, tmp_path):
    out = tmp_path / "out"
    split_dataset(f"dota:{dota}", out, SplitParams(size=32, gap=8, rates=(0.5,)), quiet=True)
    ds = load_dataset(f"dota:{out}")
    # 50 x 70 at rate 0.5 is 25 x 35: one row, columns 0 and 3.
    assert [s.image_id for s in ds.samples] == [
        "P1__0.5__0___0",
        "P1__0.5__3___0",
        "P2__0.5__0___0",
    ]
    plane = ds.samples[0].polygons[0]
    np.testing.assert_allclose(plane, [[5, 5], [10, 5], [10, 10], [5, 10]])
    origin = parse_patch_name(ds.samples[0].image_id)
    np.testing.assert_allclose(
        origin.points_to_source(plane), [[10, 10], [20, 10], [20, 20], [10, 20]]
    )


def test_unlabelled_input_gives_images_only(tmp_path):
    write_image(tmp_path / "test" / "images" / "P9.png", 40, 40)
    out = tmp_path / "out"
    split_dataset(f"dota:{tmp_path / 'test'}", out, PARAMS, quiet=True)
    assert not (out / "labelTxt").exists()
    back = load_dataset(f"dota:{out}")
    assert not back.labelled and len(back.samples) == 4


def test_rerun_is_a_no_op(dota, tmp_path):
    out = tmp_path / "out"
    split_dataset(f"dota:{dota}", out, PARAMS, quiet=True)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    report = split_dataset(f"dota:{dota}", out, PARAMS, quiet=True)
    assert (report.images_written, report.images_skipped, report.labels_written) == (0, 7, 0)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_edited_labels_and_removed_sources_update_only_what_changed(dota, tmp_path):
    out = tmp_path / "out"
    split_dataset(f"dota:{dota}", out, PARAMS, quiet=True)
    write_text(dota / "labelTxt" / "P1.txt", "10 10 20 10 20 20 10 20 ship 0\n")
    (dota / "images" / "P2.png").unlink()
    (dota / "labelTxt" / "P2.txt").unlink()
    report = split_dataset(f"dota:{dota}", out, PARAMS, quiet=True)
    assert (report.images_written, report.removed) == (0, 2)  # P2's image and label file
    assert not (out / "images" / "P2__1__0___0.png").exists()
    assert (out / "labelTxt" / "P1__1__0___0.txt").read_text() == "10 10 20 10 20 20 10 20 ship 0\n"


def test_other_parameters_need_overwrite_which_removes_the_old_patches(dota, tmp_path):
    out = tmp_path / "out"
    split_dataset(f"dota:{dota}", out, PARAMS, quiet=True)
    with pytest.raises(
        OutputExistsError, match=r"rsdet-split.json: .* size 32, gap 8, .*--overwrite"
    ):
        split_dataset(f"dota:{dota}", out, SplitParams(size=40, gap=8), quiet=True)
    split_dataset(f"dota:{dota}", out, SplitParams(size=40, gap=8), overwrite=True, quiet=True)
    names = sorted(p.stem for p in (out / "images").iterdir())
    assert names == [
        "P1__1__0___0",
        "P1__1__0___10",
        "P1__1__30___0",
        "P1__1__30___10",
        "P2__1__0___0",
    ]
    assert json.loads((out / MANIFEST_NAME).read_text())["params"]["size"] == 40


def test_foreign_non_empty_output_is_refused(dota, tmp_path):
    out = tmp_path / "out"
    write_text(out / "notes.txt", "mine")
    with pytest.raises(OutputExistsError, match="not written by rsdet split; use --overwrite"):
        split_dataset(f"dota:{dota}", out, PARAMS, quiet=True)
    with pytest.raises(SplitError, match="input dataset's own folder"):
        split_dataset(f"dota:{dota}", dota, PARAMS, quiet=True)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (SplitParams(size=32, gap=32), "--gap must be in"),
        (SplitParams(size=0, gap=0), "--size must be a positive"),
        (SplitParams(rates=(1.0, 1.0)), "lists a rate twice"),
        (SplitParams(rates=(0.0,)), "--rates must be numbers in"),
        (SplitParams(iof_thr=1.5), "--iof-thr must be in"),
    ],
)
def test_invalid_parameters(dota, tmp_path, params, fragment):
    with pytest.raises(SplitError, match=fragment):
        split_dataset(f"dota:{dota}", tmp_path / "out", params, quiet=True)


def test_aitod_round_trip_keeps_categories(tmp_path):
    root = tmp_path / "aitod"
    write_image(root / "images" / "test" / "a.png", 40, 40)
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 40}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 4,
                "bbox": [2, 2, 6, 4],
                "area": 24,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 6,
                "bbox": [28, 20, 8, 4],
                "area": 32,
                "iscrowd": 1,
            },
        ],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(AITOD_CLASSES)],
    }
    write_text(root / "annotations" / "small_test_v2_2.0.json", json.dumps(doc))
    out = tmp_path / "out"
    split_dataset(f"aitod:{root}/annotations/small_test_v2_2.0.json", out, PARAMS, quiet=True)
    ds = load_dataset(f"aitod:{out}/annotations/small_test_v2_2.0.json")
    assert ds.version == "2" and ds.classes == AITOD_CLASSES and len(ds.samples) == 4
    first = ds.samples[0]  # a__1__0___0: the ship, and the vehicle cut at x = 32
    assert first.image_id == "a__1__0___0" and first.labels.tolist() == [3, 5]
    np.testing.assert_array_equal(first.polygons[1], [[28, 20], [32, 20], [32, 24], [28, 24]])
    assert first.difficulty.tolist() == [0, TRUNCATED] and first.crowd.tolist() == [False, True]


@pytest.mark.parametrize("fmt", ["dior", "dior-r", "voc"])
def test_voc_like_formats_round_trip(tmp_path, fmt):
    from tests.datasets.test_dior import HBB, OBB

    root = tmp_path / "in"
    write_image(root / "JPEGImages-trainval" / "00001.jpg", 32, 32)
    write_text(
        root / "Annotations" / "Horizontal Bounding Boxes" / "00001.xml",
        HBB.format(id="00001", name="vehicle"),
    )
    write_text(
        root / "Annotations" / "Oriented Bounding Boxes" / "00001.xml",
        OBB.format(id="00001", name="vehicle"),
    )
    write_text(root / "ImageSets" / "Main" / "train.txt", "00001\n")
    if fmt == "voc":
        (root / "Annotations" / "Horizontal Bounding Boxes" / "00001.xml").rename(
            root / "Annotations" / "00001.xml"
        )
        (root / "JPEGImages-trainval").rename(root / "JPEGImages")
    spec = f"{fmt}:{root}?split=train"
    source = load_dataset(spec)
    out = tmp_path / "out"
    split_dataset(spec, out, SplitParams(size=16, gap=4), quiet=True)
    back = load_dataset(f"{fmt}:{out}")
    assert back.classes == source.classes and back.meta["split"] == "train"
    assert len(back.samples) == 9  # 32 px at size 16, gap 4: starts 0, 12, 16 per axis
    pieces = _mapped_back(back)["00001"]
    whole = shapely.Polygon(source.samples[0].polygons[0])
    union = shapely.union_all([shapely.Polygon(p).buffer(1e-6) for _, p in pieces])
    assert union.intersection(whole).area == pytest.approx(whole.area, rel=1e-6)


@pytest.fixture
def geo(tmp_path):
    root = tmp_path / "scenes"
    pixels = write_scene(root / "s1.tif", height=40, width=60, count=4, nodata=0)
    write_labels(
        root / "s1.gpkg",
        [px_box(4, 4, 12, 8), px_box(28, 10, 36, 14)],
        crs="EPSG:4326",
        **{"class": ["car", "truck"]},
    )
    return root, pixels


def test_geo_tiles_keep_georeferencing_and_labels_read_back(geo, tmp_path):
    root, pixels = geo
    out = tmp_path / "tiles"
    split_dataset(f"geo:{root}", out, PARAMS, quiet=True)
    with rasterio.open(out / "images" / "s1__1__24___0.tif") as ds:
        assert (ds.crs.to_epsg(), ds.count, ds.dtypes[0], ds.nodata) == (32633, 4, "uint16", 0)
        assert ds.transform.c == pytest.approx(
            ORIGIN_X + 24 * RES
        ) and ds.transform.f == pytest.approx(ORIGIN_Y)
        assert np.array_equal(np.moveaxis(ds.read(), 0, -1), pixels[0:32, 24:56])
    back = load_dataset(f"geo:{out}")
    assert back.classes == ("car", "truck") and len(back.samples) == 6
    tile = next(s for s in back.samples if s.image_id == "s1__1__24___0")
    # The truck (columns 28..36 of the scene) lies at 4..12 in this tile.
    np.testing.assert_allclose(tile.polygons, [[[4, 10], [12, 10], [12, 14], [4, 14]]], atol=1e-6)
    first = next(s for s in back.samples if s.image_id == "s1__1__0___0")
    assert first.labels.tolist() == [0, 1] and first.difficulty.tolist() == [0, TRUNCATED]


def test_geo_rerun_is_a_no_op_and_rates_scale_the_pixel_size(geo, tmp_path):
    root, _ = geo
    out = tmp_path / "tiles"
    split_dataset(f"geo:{root}", out, PARAMS, quiet=True)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    report = split_dataset(f"geo:{root}", out, PARAMS, quiet=True)
    assert (report.images_written, report.labels_written) == (0, 0)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    half = tmp_path / "half"
    split_dataset(f"geo:{root}", half, SplitParams(size=32, gap=8, rates=(0.5,)), quiet=True)
    with rasterio.open(half / "images" / "s1__0.5__0___0.tif") as ds:
        assert ds.transform.a == pytest.approx(2 * RES) and ds.shape == (32, 32)
    back = load_dataset(f"geo:{half}")
    np.testing.assert_allclose(
        back.samples[0].polygons[0], [[2, 2], [6, 2], [6, 4], [2, 4]], atol=1e-6
    )


def test_synthetic_input_is_refused_before_anything_is_generated_or_written(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SplitError, match="cannot write synthetic data as patches") as err:
        split_dataset("synthetic:?n=1&size=32", out, PARAMS, quiet=True)
    assert "\n" not in str(err.value) and not out.exists()
