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
