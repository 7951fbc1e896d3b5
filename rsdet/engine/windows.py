"""Training windows: where to cut a tile from which image, and the objects it contains.

A window is drawn from one random generator, so window ``k`` of epoch ``e`` is the same
whatever process or worker draws it (this is what makes data order reproducible and
``--resume`` exact). Large images are never loaded whole: a window of ``tile / scale``
source pixels is read and resized to ``tile x tile`` (scale jitter at read time).

Frames: ``polygons`` are in continuous pixel coordinates of the source image, then of the
tile (pixel ``(0, 0)`` covers ``[0, 1) x [0, 1)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rsdet.datasets.clip import WindowClipper
from rsdet.engine.aoi import aoi_bounds
from rsdet.structures import NORMAL, Sample

__all__ = ["TileTargets", "Window", "WindowPlanner", "crop_targets"]


@dataclass(frozen=True)
class Window:
    """A square window of a source image and the zoom applied to it.

    Attributes:
        sample: index of the sample (image) in the training set.
        left, top: source pixel of the window's top-left corner (may be negative: the part
            outside the image is padding).
        size: window edge in source pixels.
        tile: window edge after resizing, pixels; ``tile / size`` is the zoom.
    """

    sample: int
    left: int
    top: int
    size: int
    tile: int

    @property
    def zoom(self) -> float:
        """Tile pixels per source pixel."""
        return self.tile / self.size


@dataclass(frozen=True)
class TileTargets:
    """Objects inside a tile.

    Attributes:
        polygons: (M, 4, 2) float64 outlines clipped to the tile, tile pixels.
        labels: (M,) int64 class indices.
        ignore: (M,) bool: difficult, crowd, or cut so that less than ``min_visible``
            of the object remains.
    """

    polygons: np.ndarray
    labels: np.ndarray
    ignore: np.ndarray


class WindowPlanner:
    """Draws training windows over a list of samples.

    Images are chosen in proportion to their area (every pixel equally likely). With
    probability ``object_bias`` the window is placed so that a random object of the image
    lies inside it (most remote-sensing pixels are background; this keeps the batches
    informative); otherwise it is placed uniformly. An image restricted to an area of
    interest (:mod:`rsdet.engine.aoi`) counts, and is drawn over, the AOI's bounding box
    only.

    Args:
        samples: the training samples (only their sizes and polygons are read).
        tile: training tile edge, pixels.
        scale: ``(low, high)`` zoom range; a log-uniform zoom is drawn per window.
        object_bias: probability of an object-centred window.
    """

    def __init__(
        self,
        samples: list[Sample],
        tile: int,
        scale: tuple[float, float] = (1.0, 1.0),
        object_bias: float = 0.7,
    ) -> None:
        self.samples, self.tile, self.scale, self.object_bias = samples, tile, scale, object_bias
        areas = np.array([_area(aoi_bounds(s)) for s in samples], np.float64)
        self._p = areas / areas.sum()

    def default_length(self) -> int:
        """Windows per epoch that cover every image once on average."""
        t = self.tile
        return sum(math.ceil(s.height / t) * math.ceil(s.width / t) for s in self.samples)

    def draw(self, rng: np.random.Generator) -> Window:
        """One random window (see the class docstring)."""
        index = int(rng.choice(len(self.samples), p=self._p))
        s = self.samples[index]
        lo, hi = np.log(self.scale[0]), np.log(self.scale[1])
        size = max(1, round(self.tile / math.exp(rng.uniform(lo, hi))))
        if len(s) and rng.random() < self.object_bias:
            obj = s.polygons[rng.integers(len(s))]
            left = _place(rng, float(obj[:, 0].min()), float(obj[:, 0].max()), size, s.width)
            top = _place(rng, float(obj[:, 1].min()), float(obj[:, 1].max()), size, s.height)
        else:
            x0, y0, x1, y1 = aoi_bounds(s)
            left = _uniform(rng, x0, x1, size, s.width)
            top = _uniform(rng, y0, y1, size, s.height)
        return Window(index, left, top, size, self.tile)


def _area(bounds: tuple[int, int, int, int]) -> float:
    return float((bounds[2] - bounds[0]) * (bounds[3] - bounds[1]))


def _uniform(rng: np.random.Generator, lo: int, hi: int, size: int, extent: int) -> int:
    """Uniform start of a ``size`` window inside ``[lo, hi)`` (the image, or an AOI's bounds).

    A window larger than ``[lo, hi)`` covers all of it (inside the image when it fits).
    """
    if hi - lo < size and (lo, hi) != (0, extent):
        return _place(rng, lo, hi, size, extent)
    return int(rng.integers(lo, max(hi - size, lo) + 1))


def _place(rng: np.random.Generator, lo: float, hi: float, size: int, extent: int) -> int:
    """Start of a ``size`` window containing ``[lo, hi]`` (if it fits), inside the image.

    An object larger than the window gets a window somewhere over it; a window larger than
    the image starts at 0 (the rest is padding).
    """
    first = math.ceil(hi) - size  # leftmost start that still contains the object's end
    last = math.floor(lo)
    if first > last:  # object larger than the window: any window overlapping its middle
        first, last = last, first
    first, last = max(first, 0), min(last, extent - size)
    if last < first:
        return max(min(first, extent - size), 0)
    return int(rng.integers(first, last + 1))


def crop_targets(
    sample: Sample, clipper: WindowClipper, window: Window, min_visible: float
) -> TileTargets:
    """The objects of ``sample`` inside ``window``, in tile pixels.

    Objects cut by the window edge are clipped to it (their box becomes the visible part)
    and flagged ignore when less than ``min_visible`` of their area remains, so the model
    is neither taught nor punished on slivers. Difficult, truncated and crowd objects are
    always flagged ignore.
    """
    x0, y0 = window.left, window.top
    clipped = clipper.clip(x0, y0, x0 + window.size, y0 + window.size)
    idx = clipped.index
    polygons = (clipped.polygons - (x0, y0)) * window.zoom
    ignore = (sample.difficulty[idx] != NORMAL) | sample.crowd[idx] | (clipped.inside < min_visible)
    return TileTargets(polygons, sample.labels[idx].copy(), np.asarray(ignore, bool))
