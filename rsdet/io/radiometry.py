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
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rsdet.errors import InputError

if TYPE_CHECKING:
    from rsdet.io.raster import SceneInfo

__all__ = [
    "NODATA_FILLS",
    "NodataFill",
    "Radiometry",
    "ScaleOverride",
    "check_value_range",
    "fill_nodata",
    "parse_scale",
    "percentile_radiometry",
    "scale_to_unit",
]

# How nodata pixels inside a tile reach the model (see fill_nodata; measured in docs/detect.md).
NodataFill = Literal["black", "model_mean", "tile_mean", "nearest"]
NODATA_FILLS: tuple[NodataFill, ...] = ("black", "model_mean", "tile_mean", "nearest")
# Longest side of the decimated read used for the percentile stretch, pixels.
_STATS_SIDE = 1024
# Range check: a scene whose 99th percentile lies beyond high + _ABOVE * (high - low) would
# be mostly clipped to white; one whose maximum lies below low + _BELOW * (high - low) would
# reach the model almost black (e.g. 0..1 reflectance for a 0..255 model). The maximum, not
# a percentile: a dark scene with a few bright objects is fine.
_CHECK_PERCENTILE, _ABOVE, _BELOW = 99.0, 0.5, 0.05
# Without overviews the check reads a grid of _PROBES x _PROBES windows of _PROBE_PX pixels
# instead of a decimated read (which would decode every block of the scene).
_PROBES, _PROBE_PX = 8, 64


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


def fill_nodata(
    image: np.ndarray, valid: np.ndarray | None, mode: NodataFill, model_mean: np.ndarray
) -> np.ndarray:
    """Give the invalid pixels of a scaled tile values that disturb the model least.

    A black collar next to an image patch is an edge the model never saw in training and
    fires on; ``docs/detect.md`` measures the choices on the packaged tree model.

    Args:
        image: (C, H, W) float32 in [0, 1], modified in place.
        valid: (H, W) bool, True where the scene holds data; None: every pixel is valid.
        mode: ``black`` (0), ``model_mean`` (the model's standardisation mean: 0 after
            standardisation), ``tile_mean`` (mean colour of the tile's valid pixels) or
            ``nearest`` (each invalid pixel copies its nearest valid pixel).
        model_mean: (C,) the model's mean, in [0, 1] units.

    Returns:
        ``image``, filled.
    """
    if valid is None or valid.all():
        return image
    invalid = ~valid
    if mode == "nearest" and valid.any():
        from scipy.ndimage import distance_transform_edt

        rows, cols = distance_transform_edt(invalid, return_distances=False, return_indices=True)
        image[:, invalid] = image[:, rows[invalid], cols[invalid]]
        return image
    if mode == "model_mean":
        value: np.ndarray = np.asarray(model_mean, np.float32)
    elif mode == "tile_mean" and valid.any():
        flat = image.reshape(len(image), -1)
        value = (flat @ valid.ravel().astype(np.float32)) / np.float32(valid.sum())
    else:
        value = np.zeros(len(image), np.float32)
    np.copyto(image, value[:, None, None], where=invalid[None])
    return image


def percentile_radiometry(
    ds: Any, scene: SceneInfo, bands: tuple[int, ...], percentiles: tuple[float, float]
) -> Radiometry:
    """The percentile stretch of a scene, measured once from a decimated read.

    Nodata, masked and non-finite pixels are ignored. A band without valid pixels gets
    ``low == high`` (it maps to 0).
    """
    data = _decimated(ds, scene, bands)
    low, high = np.zeros(len(bands)), np.zeros(len(bands))
    for i in range(len(bands)):
        band = data[i][np.isfinite(data[i])]
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


@dataclass(frozen=True)
class ScaleOverride:
    """A run's range scaling in place of the model's (``rsdet detect --scale``).

    Attributes:
        scaling: ``"fixed"`` (``low``/``high``) or ``"percentile"`` (``percentiles``).
        low, high: raw values mapped to 0 and 1: one pair for all bands or one per band.
        percentiles: lower and upper percentile of the stretch, in percent.
    """

    scaling: Literal["fixed", "percentile"]
    low: tuple[float, ...] = (0.0,)
    high: tuple[float, ...] = (255.0,)
    percentiles: tuple[float, float] = (2.0, 98.0)


def parse_scale(text: str) -> ScaleOverride:
    """Read ``--scale``: ``LOW,HIGH``, ``L1,H1,L2,H2,...`` (per band), ``percentile[:P1,P2]``.

    Raises:
        InputError: anything else, naming the accepted forms.
    """
    forms = "use LOW,HIGH (e.g. 0,10000), one pair per band, or percentile[:2,98]"
    head, _, tail = text.strip().partition(":")
    try:
        if head == "percentile":
            lo, hi = (float(v) for v in tail.split(",")) if tail else (2.0, 98.0)
            if not 0.0 <= lo < hi <= 100.0:
                raise ValueError
            return ScaleOverride("percentile", percentiles=(lo, hi))
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"--scale {text!r}: {forms}") from None
    if len(values) < 2 or len(values) % 2:
        raise InputError(f"--scale {text!r}: {forms}")
    low, high = tuple(values[0::2]), tuple(values[1::2])
    if any(h <= lo for lo, h in zip(low, high, strict=True)):
        raise InputError(f"--scale {text!r}: each LOW must be below its HIGH")
    return ScaleOverride("fixed", low, high)


def check_value_range(
    ds: Any, scene: SceneInfo, bands: tuple[int, ...], low: np.ndarray, high: np.ndarray
) -> None:
    """Refuse a scene whose values do not fit a model's fixed range ``[low, high]``.

    A cheap sample (a decimated read served from overviews, else a grid of small windows)
    is compared with the range: a band's 99th percentile far above ``high`` (16-bit data
    for an 8-bit model: everything clips to white), or the maximum of every band far below
    it (0..1 reflectance for a 0..255 model: everything is black) is an error: the run would
    otherwise finish with zero objects and exit 0. A scene without valid samples passes, and
    so does one whose sample cannot be read (it fails when its tiles are read, as one failed
    scene of the run).

    Raises:
        InputError: naming the scene, the observed and expected ranges, and the fixes.
    """
    from rasterio.errors import RasterioError  # here, not at the top: it loads rasterio

    try:
        sample = _sample(ds, scene, bands)
    except RasterioError:
        return  # a damaged file fails when its tiles are read, as one failed scene of the run
    span = high - low
    tops = np.full(len(bands), np.nan)
    for i, band in enumerate(bands):
        values = sample[i][np.isfinite(sample[i])]
        if values.size == 0:
            continue
        p, tops[i] = float(np.percentile(values, _CHECK_PERCENTILE)), values.max()
        if p > high[i] + _ABOVE * span[i]:
            seen = (
                f"band {band} ({scene.dtype}) has values up to {tops[i]:.6g} "
                f"(99th percentile {p:.6g}), far above"
            )
            raise InputError(_range_message(scene, seen, low[i], high[i], values))
    # Too dark only when every band is: one dim band (or one carrying labels) can be right.
    reach = (tops - low) / span
    if np.isfinite(reach).any() and np.nanmax(reach) < _BELOW:
        i = int(np.nanargmax(reach))
        values = sample[i][np.isfinite(sample[i])]
        listed = ",".join(str(b) for b in bands)
        seen = f"bands {listed} ({scene.dtype}) hold values only up to {tops[i]:.6g}, far below"
        raise InputError(_range_message(scene, seen, low[i], high[i], values))


def _range_message(scene: SceneInfo, seen: str, low: float, high: float, values: np.ndarray) -> str:
    """One line: the scene, what its bands hold, the model's range and the fixes."""
    suggested = f"{_nice_low(values):g},{_nice_high(float(values.max())):g}"
    return (
        f"{scene.path}: {seen} the model's range "
        f"{low:g}..{high:g}; pass --scale {suggested} (fixed range), --scale percentile "
        "(stretch per scene), --bands, or --no-range-check"
    )


def _sample(ds: Any, scene: SceneInfo, bands: tuple[int, ...]) -> np.ndarray:
    """(C, h, w) float64 sample, NaN where invalid: decimated, else probe windows.

    A decimated read comes from overviews when the file has them (or is small); without
    them it would decode every block, so a grid of small windows is read instead.
    """
    if ds.overviews(bands[0]) or max(scene.height, scene.width) <= _STATS_SIDE:
        return _decimated(ds, scene, bands)
    from rasterio.windows import Window  # here, not at the top: it loads rasterio

    size_r, size_c = min(_PROBE_PX, scene.height), min(_PROBE_PX, scene.width)
    rows = np.linspace(0, scene.height - size_r, _PROBES).round().astype(int)
    cols = np.linspace(0, scene.width - size_c, _PROBES).round().astype(int)
    reads = [
        _as_float(ds.read(list(bands), window=Window(int(c), int(r), size_c, size_r), masked=True))
        for r in rows
        for c in cols
    ]
    return np.concatenate(reads, axis=2)


def _decimated(ds: Any, scene: SceneInfo, bands: tuple[int, ...]) -> np.ndarray:
    """(C, h, w) float64 read of the scene, longest side <= ``_STATS_SIDE``, NaN if invalid."""
    scale = min(1.0, _STATS_SIDE / max(scene.height, scene.width))
    out_hw = (max(1, round(scene.height * scale)), max(1, round(scene.width * scale)))
    return _as_float(ds.read(list(bands), out_shape=(len(bands), *out_hw), masked=True))


def _as_float(data: Any) -> np.ndarray:
    """A masked read as float64, NaN where masked."""
    return np.asarray(np.ma.filled(np.ma.asarray(data).astype(np.float64), np.nan))


def _nice_high(value: float) -> float:
    """``value`` rounded up to two significant digits (9871 -> 9900), for a suggestion."""
    if value <= 0:
        return 1.0
    step = 10.0 ** (np.floor(np.log10(value)) - 1)
    return float(np.ceil(value / step) * step)


def _nice_low(values: np.ndarray) -> float:
    """0 for non-negative data, else the 1st percentile rounded down."""
    low = float(np.percentile(values, 1.0))
    return 0.0 if low >= 0 else -_nice_high(-low)
