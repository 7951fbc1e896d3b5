import numpy as np
import pytest
import shapely

from rsdet.datasets import DatasetError, LabelError, load_dataset
from rsdet.structures import TRUNCATED

from .conftest import write_text
from .geo_fixtures import ORIGIN_X, ORIGIN_Y, RES, px_box, write_labels, write_scene


def test_labels_in_another_crs_land_on_the_right_pixels(tmp_path):
    write_scene(tmp_path / "s1.tif")
    write_labels(tmp_path / "s1.gpkg", [px_box(4, 4, 12, 8)], crs="EPSG:4326", **{"class": ["car"]})
    ds = load_dataset(f"geo:{tmp_path}")
    assert (ds.format, ds.box_type, ds.classes, ds.labelled) == ("geo", "rbox", ("car",), True)
    s = ds.samples[0]
    assert (s.image_id, s.height, s.width) == ("s1", 40, 60)
    np.testing.assert_allclose(s.polygons[0], [[4, 4], [12, 4], [12, 8], [4, 8]], atol=1e-6)
    assert s.meta["transform"] == (RES, 0.0, ORIGIN_X, 0.0, -RES, ORIGIN_Y)
    assert "32633" in s.meta["crs"] and s.meta["count"] == 3 and s.meta["nodata"] == 0


def test_multipolygon_parts_and_non_rectangles(tmp_path):
    write_scene(tmp_path / "s1.tif")
    multi = shapely.MultiPolygon([px_box(1, 1, 3, 3), px_box(10, 10, 14, 12)])
    hexagon = shapely.Polygon([(0, 1), (1, 0), (7, 0), (8, 1), (7, 2), (1, 2)])
    hexagon = shapely.affinity.affine_transform(
        hexagon, [RES, 0, 0, -RES, ORIGIN_X + 20 * RES, ORIGIN_Y - 20 * RES]
    )
    write_labels(tmp_path / "s1.gpkg", [multi, hexagon], class_name=["tree", "shrub"])
    s = load_dataset(f"geo:{tmp_path}").samples[0]
    assert s.labels.tolist() == [1, 1, 0]  # classes sorted: shrub, tree
    np.testing.assert_allclose(s.polygons[1], [[10, 10], [14, 10], [14, 12], [10, 12]], atol=1e-6)
    # The 8 x 2 hexagon's minimum-area rectangle is its 8 x 2 bounding box at (20, 20).
    np.testing.assert_allclose(s.polygons[2], [[20, 20], [28, 20], [28, 22], [20, 22]], atol=1e-6)


def test_labels_outside_the_raster_are_clipped_or_dropped(tmp_path):
    write_scene(tmp_path / "s1.tif")
    geoms = [px_box(-2, 5, 8, 9), px_box(-9, 5, 1, 9), px_box(70, 5, 80, 9), px_box(50, 30, 54, 34)]
    write_labels(tmp_path / "s1.gpkg", geoms, label=["a", "a", "a", "a"])
    s = load_dataset(f"geo:{tmp_path}").samples[0]
    np.testing.assert_allclose(s.polygons[0], [[0, 5], [8, 5], [8, 9], [0, 9]], atol=1e-6)
    assert s.difficulty.tolist() == [0, TRUNCATED, 0]  # 80 % inside kept; 10 % truncated
    assert s.meta["outside"] == 1


def test_every_polygon_outside_means_a_crs_mistake(tmp_path):
    write_scene(tmp_path / "s1.tif")
    shifted = shapely.affinity.translate(px_box(1, 1, 5, 5), 1e5, 0)
    write_labels(tmp_path / "s1.gpkg", [shifted], **{"class": ["a"]})
    with pytest.raises(
        DatasetError, match=r"s1.gpkg: none of the 1 label polygons .* check the CRS"
    ):
        load_dataset(f"geo:{tmp_path}")


def test_missing_crs_on_either_side_is_an_error(tmp_path):
    write_scene(tmp_path / "s1.tif", crs=None)
    write_labels(tmp_path / "s1.gpkg", [px_box(1, 1, 5, 5)], **{"class": ["a"]})
    with pytest.raises(DatasetError, match=r"s1.tif: the scene has no CRS"):
        load_dataset(f"geo:{tmp_path}")
    write_scene(tmp_path / "s1.tif")
    (tmp_path / "s1.gpkg").unlink()
    write_labels(tmp_path / "s1.shp", [px_box(1, 1, 5, 5)], crs=None, **{"class": ["a"]})
    with pytest.raises(DatasetError, match=r"s1.shp: the labels have no CRS"):
        load_dataset(f"geo:{tmp_path}")


def test_one_labels_file_with_a_scene_field(tmp_path):
    write_scene(tmp_path / "images" / "a.tif")
    write_scene(tmp_path / "images" / "b.tif")
    write_scene(tmp_path / "images" / "c.tif")
    path = write_labels(
        tmp_path / "labels.gpkg",
        [px_box(1, 1, 5, 5), px_box(2, 2, 6, 6)],
        scene=["a", "b.tif"],
        **{"class": ["x", "y"]},
    )
    ds = load_dataset(f"geo:{tmp_path}")
    assert [len(s) for s in ds.samples] == [1, 1, 0] and ds.meta["labels"] == path
    write_labels(path, [px_box(1, 1, 5, 5)], scene=["zz"], **{"class": ["x"]})
    with pytest.raises(DatasetError, match=r"labels.gpkg: feature 1: scene 'zz' is not among"):
        load_dataset(f"geo:{tmp_path}")
    write_labels(path, [px_box(1, 1, 5, 5)], **{"class": ["x"]})
    with pytest.raises(DatasetError, match=r"no 'scene' attribute .* 3 scenes"):
        load_dataset(f"geo:{tmp_path}")


def test_labels_option_with_a_single_scene_needs_no_scene_field(tmp_path):
    write_scene(tmp_path / "scene.tif")
    labels = write_labels(
        tmp_path / "other" / "trees.geojson", [px_box(1, 1, 5, 5)], species=["oak"]
    )
    ds = load_dataset(f"geo:{tmp_path / 'scene.tif'}?labels={labels}&class_field=species")
    assert ds.classes == ("oak",) and len(ds.samples[0]) == 1


def test_pairing_errors_and_unlabelled_scenes(tmp_path):
    write_scene(tmp_path / "a.tif")
    write_scene(tmp_path / "b.tif")
    ds = load_dataset(f"geo:{tmp_path}")
    assert not ds.labelled and [len(s) for s in ds.samples] == [0, 0]
    write_labels(tmp_path / "a.gpkg", [px_box(1, 1, 5, 5)], **{"class": ["x"]})
    with pytest.raises(DatasetError, match=r"b.tif: no labels file b\{.gpkg"):
        load_dataset(f"geo:{tmp_path}")
    write_labels(tmp_path / "b.gpkg", [px_box(1, 1, 5, 5)], **{"class": ["x"]})
    write_labels(tmp_path / "c.gpkg", [px_box(1, 1, 5, 5)], **{"class": ["x"]})
    with pytest.raises(DatasetError, match=r"c.gpkg: no scene c.tif"):
        load_dataset(f"geo:{tmp_path}")


def test_class_attribute_rules(tmp_path):
    write_scene(tmp_path / "s.tif")
    write_labels(tmp_path / "s.gpkg", [px_box(1, 1, 5, 5)], height_m=[12.0])
    with pytest.raises(
        DatasetError,
        match=r"s.gpkg: no class attribute .* attributes: height_m\); set \?class_field",
    ):
        load_dataset(f"geo:{tmp_path}")
    write_text(tmp_path / "classes.txt", "Tree\n")
    assert load_dataset(f"geo:{tmp_path}").classes == ("Tree",)
    write_text(tmp_path / "classes.txt", "Tree\nSnag\n")
    write_labels(tmp_path / "s.gpkg", [px_box(1, 1, 5, 5)], **{"class": ["Bush"]})
    with pytest.raises(
        LabelError, match=r"s.gpkg: feature 1: unknown class 'Bush'; known classes: Tree, Snag"
    ):
        load_dataset(f"geo:{tmp_path}")


def test_points_are_rejected_with_the_feature_id(tmp_path):
    write_scene(tmp_path / "s.tif")
    point = shapely.Point(ORIGIN_X + 1, ORIGIN_Y - 1)
    write_labels(tmp_path / "s.gpkg", [px_box(1, 1, 5, 5), point], **{"class": ["a", "a"]})
    with pytest.raises(
        LabelError, match=r"s.gpkg: feature 2: expected a Polygon or MultiPolygon, got Point"
    ):
        load_dataset(f"geo:{tmp_path}")


def test_files_with_several_layers_need_a_layer_option(tmp_path):
    write_scene(tmp_path / "s.tif")
    path = write_labels(tmp_path / "s.gpkg", [px_box(1, 1, 5, 5)], **{"class": ["a"]})
    import geopandas as gpd

    gpd.GeoDataFrame({"class": ["b"]}, geometry=[px_box(2, 2, 6, 6)], crs="EPSG:32633").to_file(
        path, layer="other"
    )
    with pytest.raises(
        DatasetError, match=r"s.gpkg: holds several layers .*choose one with \?layer=NAME"
    ):
        load_dataset(f"geo:{tmp_path}")
    assert load_dataset(f"geo:{tmp_path}?layer=other").classes == ("b",)


def test_one_scene_ignores_other_layers_saved_twice_beside_it(tmp_path):
    # rsdet detect scene.tif --out trees.gpkg, then --out trees.geojson: geo:scene.tif
    # must still read scene.gpkg, given as the scene or as its folder.
    write_scene(tmp_path / "scene.tif")
    write_labels(tmp_path / "scene.gpkg", [px_box(1, 1, 5, 5)], **{"class": ["tree"]})
    write_labels(tmp_path / "trees.gpkg", [px_box(2, 2, 6, 6)], **{"class": ["tree"]})
    write_labels(tmp_path / "trees.geojson", [px_box(2, 2, 6, 6)], **{"class": ["tree"]})
    for spec in (f"geo:{tmp_path / 'scene.tif'}", f"geo:{tmp_path}"):
        assert [len(s) for s in load_dataset(spec).samples] == [1]
