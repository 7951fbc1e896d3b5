"""Which tiles of a scene hold data, decided before any tile is read in full.

A pixel is *valid* when any of the bands the model reads holds data there, by the scene's
nodata value, internal mask or alpha band. :func:`scan_validity` answers for cells of a
coarse grid, and :meth:`ValidityMap.any_valid` for a tile: a tile is skipped only when it
holds no valid pixel at all. Two ways to get there, picked by what the file offers:

* **masks and overviews**: GDAL reads the mask at low resolution with ``average``
  resampling, which marks a cell valid as soon as one of its pixels is. With overviews
  (or an internal mask, a separate small image) this costs next to nothing;
* **nodata value, no overviews**: one pass over the pixels at full resolution, by
  windows of a few blocks, comparing every selected band with its nodata value. Each block
  is decoded once (GDAL's per-band mask reads would decode pixel-interleaved blocks once
  per band), and memory stays bounded by the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rasterio.enums import MaskFlags, Resampling
from rasterio.windows import Window as RioWindow

from rsdet.io.raster import SceneInfo
from rsdet.structures import HBoxes, RBoxes
from rsdet.tiling import Window

__all__ = ["MIN_VALID_FRACTION", "ValidityMap", "box_valid_fraction", "scan_validity"]

# A detection is kept only when at least this fraction of its box holds data: the model
# fires on the artificial edge of a nodata collar, and an object mostly on nodata is not
# in the image. Half: an object cut by the footprint's edge keeps its box.
MIN_VALID_FRACTION = 0.5
# Longest side of the validity grid, cells.
_MAX_CELLS = 4096
# Scene rows / columns per read while scanning: a few 256-512 px blocks, a few MB.
_SCAN_ROWS, _SCAN_COLS = 512, 4096


@dataclass(frozen=True)
class ValidityMap:
    """A coarse map of where a scene holds data; conservative (any valid pixel counts).

    Attributes:
        cells: (R, C) bool, True where the cell contains at least one valid pixel.
        row_edges: (R + 1,) scene rows where the cells start and end (0 ... height).
        col_edges: (C + 1,) scene columns likewise.
    """

    cells: np.ndarray
    row_edges: np.ndarray
    col_edges: np.ndarray

    def any_valid(self, window: Window) -> bool:
        """True unless every cell touching ``window`` is empty.

        With a resampling scale that is not a whole number, GDAL counts a pixel cut by a
        cell border in both cells, so the cells holding the window's first and last pixels
        suffice.
        """
        r0, r1 = _cell_range(self.row_edges, window.row_off, window.row_end)
        c0, c1 = _cell_range(self.col_edges, window.col_off, window.col_end)
        return bool(self.cells[r0:r1, c0:c1].any())


def _cell_range(edges: np.ndarray, start: int, end: int) -> tuple[int, int]:
    first = int(np.searchsorted(edges, start, side="right")) - 1
    last = int(np.searchsorted(edges, end - 1, side="right")) - 1
    return max(first, 0), last + 1


def scan_validity(
    ds: Any, scene: SceneInfo, bands: tuple[int, ...], cell_px: int
) -> ValidityMap | None:
    """Map where ``bands`` of the scene hold data (None: every pixel is valid).

    Args:
        ds: an open rasterio dataset of ``scene``.
        scene: its description.
        bands: the 1-based bands the model reads.
        cell_px: target cell edge in scene pixels (e.g. an eighth of a tile).
    """
    if not scene.has_mask:
        return None
    cell = max(cell_px, 1, -(-max(scene.height, scene.width) // _MAX_CELLS))
    flags = [ds.mask_flag_enums[b - 1] for b in bands]
    shared = all(MaskFlags.per_dataset in f or MaskFlags.alpha in f for f in flags)
    if shared:  # one mask for all bands: read it once
        return _scan_masks(ds, scene, bands[:1], cell)
    if ds.overviews(bands[0]):
        return _scan_masks(ds, scene, bands, cell)
    return _scan_nodata(ds, scene, bands, cell)


def _scan_masks(ds: Any, scene: SceneInfo, bands: tuple[int, ...], cell: int) -> ValidityMap:
    """Decimated mask reads (``average``), by bands of rows; served from overviews."""
    height, width = scene.height, scene.width
    cols = -(-width // cell)
    band_h = cell * max(1, _SCAN_ROWS // cell)
    cells, row_edges = [], [0.0]
    for r0 in range(0, height, band_h):
        h = min(band_h, height - r0)
        n = -(-h // cell)
        mask = ds.read_masks(
            list(bands),
            window=RioWindow(0, r0, width, h),
            out_shape=(len(bands), n, cols),
            resampling=Resampling.average,
        )
        cells.append(np.asarray(mask).max(axis=0) > 0)
        row_edges.extend(r0 + (i + 1) * h / n for i in range(n))
    col_edges = np.arange(cols + 1) * (width / cols)
    return ValidityMap(np.concatenate(cells), np.asarray(row_edges), col_edges)


def _scan_nodata(ds: Any, scene: SceneInfo, bands: tuple[int, ...], cell: int) -> ValidityMap:
    """Exact: compare every pixel with the nodata values, one full-resolution pass."""
    height, width = scene.height, scene.width
    nodata = [ds.nodatavals[b - 1] for b in bands]
    cells = np.zeros((-(-height // cell), -(-width // cell)), dtype=bool)
    step_r, step_c = cell * max(1, _SCAN_ROWS // cell), cell * max(1, _SCAN_COLS // cell)
    for r0 in range(0, height, step_r):
        for c0 in range(0, width, step_c):
            h, w = min(step_r, height - r0), min(step_c, width - c0)
            data = ds.read(list(bands), window=RioWindow(c0, r0, w, h))
            block = _any_per_cell(_valid_pixels(data, nodata), cell)
            cells[
                r0 // cell : r0 // cell + block.shape[0], c0 // cell : c0 // cell + block.shape[1]
            ] = block
    row_edges = np.minimum(np.arange(cells.shape[0] + 1) * cell, height)
    col_edges = np.minimum(np.arange(cells.shape[1] + 1) * cell, width)
    return ValidityMap(cells, row_edges, col_edges)


def _valid_pixels(data: np.ndarray, nodata: list[float | None]) -> np.ndarray:
    """(C, H, W) values -> (H, W) bool: any band differs from its nodata value."""
    valid = np.zeros(data.shape[1:], dtype=bool)
    for band, value in zip(data, nodata, strict=True):
        if value is None:
            return np.ones_like(valid)  # a band without nodata is valid everywhere
        valid |= ~np.isnan(band) if np.isnan(value) else band != value
    return valid


def _any_per_cell(valid: np.ndarray, cell: int) -> np.ndarray:
    """(H, W) bool -> (ceil(H / cell), ceil(W / cell)): any True inside each cell."""
    h, w = valid.shape
    padded = np.zeros((-(-h // cell) * cell, -(-w // cell) * cell), dtype=bool)
    padded[:h, :w] = valid
    rows, cols = padded.shape[0] // cell, padded.shape[1] // cell
    return np.asarray(padded.reshape(rows, cell, cols, cell).any(axis=(1, 3)))


def box_valid_fraction(boxes: HBoxes | RBoxes, valid: np.ndarray) -> np.ndarray:
    """Fraction of each box's pixels that hold data, in the frame of ``valid``.

    Args:
        boxes: N boxes in the pixels of the image ``valid`` describes (oriented boxes are
            measured over their axis-aligned envelope).
        valid: (H, W) bool, True where the image holds data.

    Returns:
        (N,) float64 in [0, 1]: valid pixels over all pixels of the box (pixels the box
        touches, clipped to the image; a box wholly outside the image gets 0).
    """
    env = boxes if isinstance(boxes, HBoxes) else boxes.envelope()
    xyxy = env.tensor.detach().cpu().double().numpy().reshape(-1, 4)
    h, w = valid.shape
    # Integral image with a zero first row and column: any rectangle sum in four lookups.
    integral = np.zeros((h + 1, w + 1), np.int64)
    integral[1:, 1:] = valid.cumsum(axis=0, dtype=np.int64).cumsum(axis=1)
    c0 = np.clip(np.floor(xyxy[:, 0]), 0, w).astype(np.int64)
    r0 = np.clip(np.floor(xyxy[:, 1]), 0, h).astype(np.int64)
    c1 = np.clip(np.ceil(xyxy[:, 2]), 0, w).astype(np.int64)
    r1 = np.clip(np.ceil(xyxy[:, 3]), 0, h).astype(np.int64)
    inside = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
    area = (r1 - r0) * (c1 - c0)
    return np.where(area > 0, inside / np.maximum(area, 1), 0.0)
