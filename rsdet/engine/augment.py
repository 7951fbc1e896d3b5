"""Geometric and colour augmentation of a training tile and its object outlines.

Flips, 90-degree rotations and colour jitter come from albumentations; scale jitter happens
when the window is read (:mod:`rsdet.engine.windows`), so large scenes are never loaded
whole. Outlines travel as keypoints (every polygon corner), so oriented boxes survive any
of these transforms: the caller rebuilds boxes from the moved corners.

albumentations puts keypoints on pixel *centres* (a horizontal flip maps ``x`` to
``W - 1 - x``) while rsdet puts coordinates on pixel *corners* (``x -> W - x``); corners
are shifted by half a pixel on the way in and back on the way out.

Domain randomisation (white balance, gamma, shadows, a coarser sensor, blur or sharpening,
sensor noise, JPEG artefacts) changes pixels only, never geometry: it imitates the same
ground seen by other cameras, so a model trained on one site meets fewer surprises at the
next. Each degradation fires with probability ``degrade_p``, in the order a camera would
apply them (scene light, optics and resolution, sensor noise, compression).
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

from rsdet.config import ConfigError
from rsdet.engine.recipe import AugmentConfig

__all__ = ["Augmenter"]


class Augmenter:
    """Random flips / rotations / colour jitter for ``(image, polygons)`` pairs.

    Args:
        config: probabilities and jitter strengths.
        channels: image channels; hue and saturation jitter need exactly 3 (RGB).
        gsd_m: the model's ground sampling distance, metres per pixel; needed only by
            ``sensor_gsd_m``.

    Raises:
        ConfigError: ``sensor_gsd_m`` without ``gsd_m``.
    """

    def __init__(self, config: AugmentConfig, channels: int, gsd_m: float | None = None) -> None:
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
        transforms += _degradations(config, gsd_m, rgb=channels == 3)
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
        image = np.clip(out["image"], 0.0, 1.0)  # noise and gains may leave the range
        return np.ascontiguousarray(image, np.float32), moved.reshape(-1, 4, 2)


def _degradations(c: AugmentConfig, gsd_m: float | None, rgb: bool) -> list[A.BasicTransform]:
    """The enabled pixel-only degradations, in camera order (see the module docstring).

    Shadows and JPEG are RGB-only (both assume three colour bands); other band counts skip them.
    """
    p, out = c.degrade_p, []
    if c.white_balance:
        gain = (1 - c.white_balance, 1 + c.white_balance)
        out.append(A.MultiplicativeNoise(multiplier=gain, per_channel=True, p=p))
    if c.gamma:
        out.append(A.RandomGamma(gamma_limit=(100 * (1 - c.gamma), 100 * (1 + c.gamma)), p=p))
    if c.shadow and rgb:
        out.append(
            A.RandomShadow(
                shadow_roi=(0, 0, 1, 1),
                num_shadows_limit=(1, 3),
                shadow_intensity_range=(0.3, 0.7),
                p=c.shadow,
            )
        )
    if c.sensor_gsd_m is not None:
        if gsd_m is None:
            raise ConfigError("data.augment.sensor_gsd_m: needs model.input.gsd_m")
        # a sensor finer than the model's GSD loses nothing once resampled to it
        worst, best = (min(1.0, gsd_m / g) for g in (c.sensor_gsd_m[1], c.sensor_gsd_m[0]))
        if worst < 1.0:
            linear = {"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}
            out.append(A.Downscale(scale_range=(worst, best), interpolation_pair=linear, p=p))
    optics: list[A.BasicTransform] = []
    if c.blur:
        optics.append(A.GaussianBlur(sigma_limit=(0.3, c.blur), p=1.0))
    if c.sharpen:
        optics.append(A.Sharpen(alpha=(0.1, c.sharpen), lightness=(1.0, 1.0), p=1.0))
    if optics:
        out.append(A.OneOf(optics, p=p))
    if c.noise:
        out.append(A.GaussNoise(std_range=(0.0, c.noise), per_channel=True, p=p))
    if c.shot_noise:
        out.append(A.ShotNoise(scale_range=(0.0, c.shot_noise), p=p))
    if c.jpeg_quality < 100 and rgb:
        out.append(A.ImageCompression(quality_range=(c.jpeg_quality, 100), p=p))
    return out
