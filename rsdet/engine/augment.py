"""Geometric and colour augmentation of a training tile and its object outlines.

Flips, 90-degree rotations and colour jitter come from albumentations; scale jitter happens
when the window is read (:mod:`rsdet.engine.windows`), so large scenes are never loaded
whole. Outlines travel as keypoints (every polygon corner), so oriented boxes survive any
of these transforms: the caller rebuilds boxes from the moved corners.

albumentations puts keypoints on pixel *centres* (a horizontal flip maps ``x`` to
``W - 1 - x``) while rsdet puts coordinates on pixel *corners* (``x -> W - x``); corners
are shifted by half a pixel on the way in and back on the way out.
"""

from __future__ import annotations

import albumentations as A
import numpy as np

from rsdet.engine.recipe import AugmentConfig

__all__ = ["Augmenter"]


class Augmenter:
    """Random flips / rotations / colour jitter for ``(image, polygons)`` pairs.

    Args:
        config: probabilities and jitter strengths.
        channels: image channels; hue and saturation jitter need exactly 3 (RGB).
    """

    def __init__(self, config: AugmentConfig, channels: int) -> None:
        transforms: list[A.BasicTransform] = [
            A.HorizontalFlip(p=config.hflip),
            A.VerticalFlip(p=config.vflip),
            A.RandomRotate90(p=config.rot90),
        ]
        c = config
        if channels == 3 and (c.brightness or c.contrast or c.saturation or c.hue):
            transforms.append(
                A.ColorJitter(
                    brightness=(1 - c.brightness, 1 + c.brightness),
                    contrast=(1 - c.contrast, 1 + c.contrast),
                    saturation=(1 - c.saturation, 1 + c.saturation),
                    hue=(-c.hue, c.hue),
                    p=c.color_p,
                )
            )
        elif c.brightness or c.contrast:  # multispectral: no hue, only gain and offset
            transforms.append(A.RandomBrightnessContrast(c.brightness, c.contrast, p=c.color_p))
        self._compose = A.Compose(
            transforms,
            keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
        )

    def __call__(
        self, image: np.ndarray, polygons: np.ndarray, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augment one tile.

        Args:
            image: (T, T, C) float32 in [0, 1].
            polygons: (M, 4, 2) outlines in tile pixels.
            seed: the draw; equal seeds give equal results (any process, any worker).

        Returns:
            The augmented (T, T, C) image and (M, 4, 2) outlines.
        """
        self._compose.set_random_seed(seed)
        corners = polygons.reshape(-1, 2) - 0.5
        out = self._compose(image=image, keypoints=corners)
        moved = np.asarray(out["keypoints"], np.float64).reshape(-1, 2)[:, :2] + 0.5
        return np.ascontiguousarray(out["image"], np.float32), moved.reshape(-1, 4, 2)
