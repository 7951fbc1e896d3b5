"""Augmentation moves pixels and outlines together (corner-based coordinates)."""

import numpy as np
import pytest

from rsdet.engine.augment import Augmenter
from rsdet.engine.recipe import AugmentConfig
from rsdet.structures import RBoxes


def bright_pixels_box(image):
    ys, xs = np.nonzero(image[..., 0] > 0.5)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("seed", range(12))
def test_outline_follows_the_pixels_through_flips_and_rotations(seed):
    image = np.zeros((32, 32, 3), np.float32)
    image[4:10, 20:30] = 1.0  # rows 4..9, columns 20..29
    poly = np.array([[[20, 4], [30, 4], [30, 10], [20, 10]]], float)
    aug = Augmenter(AugmentConfig(hflip=0.5, vflip=0.5, rot90=1.0), channels=3)
    out, moved = aug(image, poly, seed)
    env = [*moved[0].min(0), *moved[0].max(0)]
    np.testing.assert_allclose(env, bright_pixels_box(out), atol=1e-9)


def test_oriented_box_survives_as_the_same_rectangle():
    rb = RBoxes([[16.0, 12.0, 10.0, 4.0, 0.3]])
    poly = rb.corners().numpy().astype(float)
    aug = Augmenter(AugmentConfig(hflip=1.0, vflip=0.0, rot90=0.0), channels=3)
    _, moved = aug(np.zeros((32, 32, 3), np.float32), poly, 0)
    back = RBoxes.from_polygons(moved).tensor[0]
    np.testing.assert_allclose(back[:4].numpy(), [32 - 16.0, 12.0, 10.0, 4.0], atol=1e-4)
    assert abs(np.sin(back[4].item() + 0.3)) < 1e-4  # mirrored angle


def test_equal_seeds_equal_results_and_colour_jitter_keeps_the_range():
    rng = np.random.default_rng(0)
    image = rng.random((16, 16, 3)).astype(np.float32)
    cfg = AugmentConfig(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, color_p=1.0)
    aug = Augmenter(cfg, channels=3)
    a, _ = aug(image, np.zeros((0, 4, 2)), 5)
    b, _ = aug(image, np.zeros((0, 4, 2)), 5)
    c, _ = aug(image, np.zeros((0, 4, 2)), 6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1


def test_multispectral_tiles_skip_hue_but_keep_brightness():
    image = np.full((8, 8, 4), 0.5, np.float32)
    aug = Augmenter(
        AugmentConfig(brightness=0.5, hue=0.1, color_p=1.0, hflip=0, vflip=0, rot90=0), 4
    )
    out, _ = aug(image, np.zeros((0, 4, 2)), 1)
    assert out.shape == (8, 8, 4) and not np.allclose(out, 0.5)


DEGRADE_ALL = AugmentConfig(
    hflip=0, vflip=0, rot90=0, white_balance=0.2, gamma=0.3, shadow=1.0, blur=1.5,
    sharpen=0.5, noise=0.05, shot_noise=0.1, jpeg_quality=30, sensor_gsd_m=(0.05, 0.3),
    degrade_p=1.0,
)  # fmt: skip


def test_domain_randomisation_is_seeded_in_range_and_leaves_outlines_alone():
    image = np.random.default_rng(1).random((64, 64, 3)).astype(np.float32)
    poly = np.array([[[10, 12], [30, 12], [30, 40], [10, 40]]], float)
    aug = Augmenter(DEGRADE_ALL, channels=3, gsd_m=0.1)
    a, moved = aug(image, poly, 3)
    b, _ = aug(image, poly, 3)
    c, _ = aug(image, poly, 4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == image.shape
    assert a.min() >= 0 and a.max() <= 1 and np.abs(a - image).mean() > 0.02
    np.testing.assert_array_equal(moved, poly)  # pixel-only: geometry untouched


def test_a_coarser_sensor_loses_detail_but_keeps_the_image_size():
    checker = (np.indices((64, 64)).sum(0) % 2).astype(np.float32)  # 1-pixel detail
    image = np.repeat(checker[..., None], 3, axis=2)
    only_gsd = AugmentConfig(hflip=0, vflip=0, rot90=0, sensor_gsd_m=(0.3, 0.3), degrade_p=1.0)
    out, _ = Augmenter(only_gsd, channels=3, gsd_m=0.1)(image, np.zeros((0, 4, 2)), 0)
    assert out.shape == image.shape
    assert out.std() < 0.2 * image.std()  # a 30 cm sensor cannot resolve 10 cm squares


def test_a_finer_sensor_than_the_model_changes_nothing():
    image = np.random.default_rng(2).random((32, 32, 3)).astype(np.float32)
    fine = AugmentConfig(hflip=0, vflip=0, rot90=0, sensor_gsd_m=(0.05, 0.1), degrade_p=1.0)
    out, _ = Augmenter(fine, channels=3, gsd_m=0.1)(image, np.zeros((0, 4, 2)), 0)
    np.testing.assert_array_equal(out, image)


def test_sensor_gsd_needs_the_model_gsd():
    from rsdet.config import ConfigError

    with pytest.raises(ConfigError, match="sensor_gsd_m"):
        Augmenter(AugmentConfig(sensor_gsd_m=(0.1, 0.3)), channels=3, gsd_m=None)


def test_degradations_work_on_multispectral_tiles_without_the_rgb_only_ones():
    image = np.full((32, 32, 4), 0.5, np.float32)
    aug = Augmenter(DEGRADE_ALL, channels=4, gsd_m=0.1)
    out, _ = aug(image, np.zeros((0, 4, 2)), 1)
    assert out.shape == (32, 32, 4) and not np.allclose(out, 0.5)
