"""Radiometric range scaling: raw pixel values -> float32 in ``[0, 1]``, per band.

This is step 1 of the two pixel-scaling steps described in :mod:`rsdet.models.spec`: a fixed
per-band ``[low, high]`` range, or a percentile stretch measured once per scene from a
decimated read (which GDAL serves from overviews when the file has them).

Only numpy is imported at module level, so the models and the training engine scale pixels
with :func:`scale_to_unit` without loading rasterio.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rsdet.io.raster import SceneInfo

__all__ = ["Radiometry", "percentile_radiometry", "scale_to_unit"]

# Longest side of the decimated read used for the percentile stretch, pixels.
_STATS_SIDE = 1024


def scale_to_unit(image: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map raw values to float32 ``[0, 1]`` per band, clipping outside ``[low, high]``.

    Args:
        image: (C, H, W) raw pixel values of any numeric dtype.
        low, high: (C,) range per band, in raw units; ``high == low`` maps the band to 0.

    Returns:
        (C, H, W) float32 array in [0, 1]. NaNs (float nodata) become 0.
    """
    low = np.asarray(low, dtype=np.float32).reshape(-1, 1, 1)
    span = np.asarray(high, dtype=np.float32).reshape(-1, 1, 1) - low
    span = np.where(span > 0, span, np.float32(1.0))
    out = (image.astype(np.float32, copy=False) - low) / span
    np.clip(out, 0.0, 1.0, out=out)
    return np.nan_to_num(out, copy=False, nan=0.0)


@dataclass(frozen=True)
class Radiometry:
    """Per-band linear range scaling of raw pixel values to ``[0, 1]``.

    Attributes:
        low, high: (C,) raw values that map to 0 and 1 (outside values are clipped); a
            model's fixed range is ``Radiometry(*input_spec.fixed_range())``.
    """

    low: np.ndarray
    high: np.ndarray

    def to_unit(self, raw: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
        """(C, H, W) raw -> (C, H, W) float32 in [0, 1]; invalid pixels become 0."""
        out = scale_to_unit(raw, self.low, self.high)
        if valid is not None:
            out *= valid[None]
        return out


def percentile_radiometry(
    ds: Any, scene: SceneInfo, bands: tuple[int, ...], percentiles: tuple[float, float]
) -> Radiometry:
    """The percentile stretch of a scene, measured once from a decimated read.

    Nodata, masked and non-finite pixels are ignored. A band without valid pixels gets
    ``low == high`` (it maps to 0).
    """
    scale = min(1.0, _STATS_SIDE / max(scene.height, scene.width))
    out_hw = (max(1, round(scene.height * scale)), max(1, round(scene.width * scale)))
    data = ds.read(list(bands), out_shape=(len(bands), *out_hw), masked=True)
    low, high = np.zeros(len(bands)), np.zeros(len(bands))
    for i in range(len(bands)):
        band = np.ma.masked_invalid(data[i].astype(np.float64)).compressed()
        if band.size:
            low[i], high[i] = np.percentile(band, percentiles)
    if np.any(high <= low):
        from rsdet.io.raster import SceneWarning  # here, not at the top: it loads rasterio

        warnings.warn(
            f"{scene.path}: some bands are constant or empty; they are scaled to 0",
            SceneWarning,
            stacklevel=2,
        )
    return Radiometry(low, high)
