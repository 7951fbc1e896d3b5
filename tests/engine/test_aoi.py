"""Areas of interest: outside them training shows nothing, so unlabelled objects never
become negatives; objects on the border are ignored; windows stay over the AOI."""

import numpy as np
import shapely

from rsdet.engine.aoi import AOI_KEY, aoi_bounds, restrict_to_aoi, window_mask
from rsdet.engine.dataset import TileDataset
from rsdet.engine.recipe import AugmentConfig, DataConfig
from rsdet.engine.windows import WindowPlanner
from rsdet.models.spec import InputSpec
from rsdet.structures import NORMAL, TRUNCATED, Sample
from rsdet.synthetic import make_scene

SPEC = InputSpec(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
NO_AUGMENT = AugmentConfig(hflip=0, vflip=0, rot90=0)


def box(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_objects_outside_are_dropped_and_those_on_the_border_ignored():
    polys = np.array([box(10, 10, 20, 20), box(45, 10, 55, 20), box(70, 10, 80, 20)], float)
    sample = Sample("s", 100, 100, polys, np.zeros(3))
    out = restrict_to_aoi(sample, shapely.box(0, 0, 50, 100))
    assert out.polygons.tolist() == polys[:2].tolist()
    assert out.difficulty.tolist() == [NORMAL, TRUNCATED]
    assert out.meta[AOI_KEY].equals(shapely.box(0, 0, 50, 100))
    assert len(sample) == 3 and AOI_KEY not in sample.meta  # the input is left alone


def test_mask_follows_pixel_centres_and_bounds_stay_in_the_image():
    sample = restrict_to_aoi(
        Sample("s", 100, 100, np.zeros((0, 4, 2)), np.zeros(0)),
        shapely.Polygon([(10, 10), (40, 10), (10, 40)]).union(shapely.box(90, 90, 130, 130)),
    )
    mask = window_mask(sample, 0, 0, 50)
    assert mask is not None and mask.shape == (50, 50)
    assert mask[10, 10] and mask[20, 15] and not mask[9, 10] and not mask[35, 35]
    assert not window_mask(sample, 200, 0, 10).any()
    assert aoi_bounds(sample) == (10, 10, 100, 100)
    assert window_mask(Sample("s", 9, 9, np.zeros((0, 4, 2)), np.zeros(0)), 0, 0, 4) is None


def test_unlabelled_objects_outside_the_aoi_never_reach_a_training_tile():
    """Labels only on the left half, AOI = left half: no tile may show the right half.

    Without the AOI the right half's unlabelled vehicles would be shown as background.
    """
    scene = make_scene(2, 256, "vehicles")
    left = scene.polygons.max(axis=1)[:, 0] <= 128
    assert left.sum() >= 3 and (~left).sum() >= 3
    sample = restrict_to_aoi(scene.subset(np.flatnonzero(left)), shapely.box(0, 0, 128, 256))
    cfg = DataConfig("unused", tile_size=96, windows_per_epoch=60, object_bias=0.5,
                     augment=NO_AUGMENT)  # fmt: skip
    ds = TileDataset([sample], cfg, SPEC, "hbox", seed=0)
    shown_right = 0
    for key in range(60):
        image, targets = ds[key]
        w = ds.planner.draw(np.random.default_rng([0, 0, key]))
        assert w.left < 128  # every window overlaps the AOI
        cols = np.arange(w.left, w.left + w.size)
        outside = cols >= 128
        shown_right += int(outside.sum())
        assert np.all(image.numpy()[:, :, outside] == 0)  # the mean colour, standardised
        assert np.all(targets.boxes.tensor[:, 0].numpy() + w.left < 128)
    assert shown_right > 0  # windows do reach past the AOI: the blanking is what hides it


def test_planner_draws_over_the_aoi_and_weighs_images_by_it():
    big = Sample("big", 1000, 1000, np.zeros((0, 4, 2)), np.zeros(0))
    small = restrict_to_aoi(big, shapely.box(600, 700, 700, 800))
    planner = WindowPlanner([small, big], tile=64, object_bias=0.0)
    rng = np.random.default_rng(0)
    draws = [planner.draw(rng) for _ in range(300)]
    assert sum(w.sample == 0 for w in draws) < 20  # 1 % of the pixels, 1 % of the windows
    for w in (w for w in draws if w.sample == 0):
        assert 600 <= w.left <= 700 - 64 and 700 <= w.top <= 800 - 64
