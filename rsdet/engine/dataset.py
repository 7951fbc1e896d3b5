"""The training set as tensors: windows -> pixels -> augmentation -> (image, Targets).

Item ``k`` of the loader is window ``k mod n`` of epoch ``k // n`` (see
:class:`WindowSampler`); every random choice it makes comes from a generator seeded with
``(seed, epoch, index)``. Data order and augmentation are therefore the same for any number
of workers and processes, and a resumed run sees exactly the batches the interrupted one
would have seen.

Pixels follow the model's :class:`~rsdet.models.spec.InputSpec`: bands picked, range scaled
to [0, 1] (fixed range, or percentiles measured once per image), then standardised with its
mean / std. Padding (a window reaching past the image) gets the mean colour, i.e. 0 after
standardisation, as :class:`~rsdet.models.detector.Detector` pads at inference; so do the
pixels outside a sample's area of interest (:mod:`rsdet.engine.aoi`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from rsdet.datasets.clip import WindowClipper
from rsdet.datasets.pixels import ImageReader, open_image
from rsdet.engine.aoi import window_mask
from rsdet.engine.augment import Augmenter
from rsdet.engine.recipe import DataConfig
from rsdet.engine.windows import Window, WindowPlanner, crop_targets
from rsdet.errors import InputError
from rsdet.io.radiometry import scale_to_unit
from rsdet.models.spec import InputSpec
from rsdet.structures import HBoxes, RBoxes, Sample, Targets

__all__ = ["TileDataset", "WindowSampler", "collate", "image_range"]

_OPEN_IMAGES = 4  # decoded images kept per worker (a PNG is decoded whole on open)


class TileDataset(Dataset[tuple[Tensor, Targets]]):
    """Random training tiles over samples (see the module docstring).

    Args:
        samples: training samples (in-memory pixels or image paths).
        data: window size, count, object bias, ``min_visible`` and augmentation.
        input_spec: bands, range scaling and standardisation of the model.
        box_type: ``hbox`` targets are envelopes of the outlines, ``rbox`` their
            minimum-area rectangles.
        seed: the run's seed.
    """

    def __init__(
        self,
        samples: list[Sample],
        data: DataConfig,
        input_spec: InputSpec,
        box_type: str,
        seed: int,
    ) -> None:
        self.samples, self.data, self.spec = samples, data, input_spec
        self.box_type, self.seed = box_type, seed
        self.planner = WindowPlanner(samples, data.tile_size, data.augment.scale, data.object_bias)
        self.length = data.windows_per_epoch or self.planner.default_length()
        self.augment = Augmenter(data.augment, input_spec.num_channels, input_spec.gsd_m)
        mean, std = input_spec.standardisation()
        self._mean, self._std = mean.astype(np.float32), std.astype(np.float32)
        self._clippers: dict[int, WindowClipper] = {}
        self._readers: OrderedDict[int, ImageReader] = OrderedDict()
        self._ranges: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        """Windows per epoch."""
        return self.length

    def __getitem__(self, key: int) -> tuple[Tensor, Targets]:
        """Window ``key mod len`` of epoch ``key // len``: a (C, T, T) image and its targets."""
        epoch, index = divmod(int(key), self.length)
        rng = np.random.default_rng([self.seed, epoch, index])
        window = self.planner.draw(rng)
        sample = self.samples[window.sample]
        if window.sample not in self._clippers:
            self._clippers[window.sample] = WindowClipper(sample.polygons)
        tile = crop_targets(sample, self._clippers[window.sample], window, self.data.min_visible)
        image = self._pixels(window)
        image, polygons = self.augment(image, tile.polygons, int(rng.integers(2**31)))
        image = (image - self._mean) / self._std
        targets = _targets(polygons, tile.labels, tile.ignore, self.box_type)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), targets

    def _reader(self, index: int) -> ImageReader:
        """An open image, from a small per-worker cache (least recently used goes first)."""
        if index in self._readers:
            self._readers.move_to_end(index)
            return self._readers[index]
        reader = open_image(self.samples[index])
        if len(self._readers) >= _OPEN_IMAGES:
            self._readers.popitem(last=False)[1].close()
        self._readers[index] = reader
        return reader

    def _pixels(self, w: Window) -> np.ndarray:
        """(T, T, C) float32 in [0, 1]: the window read, bands picked, range scaled, zoomed."""
        reader = self._reader(w.sample)
        raw = _pick_bands(reader.read_region(w.top, w.left, w.size, w.size), self.spec, reader)
        if w.sample not in self._ranges:
            self._ranges[w.sample] = image_range(reader, self.spec)
        low, high = self._ranges[w.sample]
        unit = scale_to_unit(np.moveaxis(raw, -1, 0), low, high).transpose(1, 2, 0)
        # Pixels outside the image become the mean colour (0 once standardised).
        rows = slice(max(-w.top, 0), max(min(reader.height - w.top, w.size), 0))
        cols = slice(max(-w.left, 0), max(min(reader.width - w.left, w.size), 0))
        inside = np.zeros((w.size, w.size), bool)
        inside[rows, cols] = True
        aoi = window_mask(self.samples[w.sample], w.left, w.top, w.size)
        if aoi is not None:  # labels are complete only in the AOI: show nothing else
            inside &= aoi
        unit[~inside] = self._mean
        if w.size != w.tile:
            interp = cv2.INTER_AREA if w.size > w.tile else cv2.INTER_LINEAR
            unit = cv2.resize(unit, (w.tile, w.tile), interpolation=interp)
        return unit.reshape(w.tile, w.tile, -1)


def _pick_bands(raw: np.ndarray, spec: InputSpec, reader: ImageReader) -> np.ndarray:
    """The model's bands (1-based indices) of an (H, W, C) array, in model order."""
    if max(spec.bands) > raw.shape[2]:
        where = getattr(reader, "path", "image")
        raise InputError(
            f"{where}: has {raw.shape[2]} bands but the model reads bands {list(spec.bands)}"
        )
    return raw[:, :, [b - 1 for b in spec.bands]]


def image_range(reader: ImageReader, spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per-band ``(low, high)`` raw values for range scaling of one whole image.

    Fixed scaling returns the spec's range. Percentile scaling measures the image once, on
    a version at most 1024 pixels on its long side (like a scene pipeline measures a
    scene, never a tile, so neighbouring tiles agree).
    """
    if spec.scaling == "fixed":
        return spec.fixed_range()
    factor = min(1.0, 1024 / max(reader.height, reader.width))
    h, w = max(1, round(reader.height * factor)), max(1, round(reader.width * factor))
    small = _pick_bands(reader.read_region(0, 0, h, w, scale=factor), spec, reader)
    flat = small.reshape(-1, small.shape[2]).astype(np.float64)
    lo, hi = spec.percentiles
    return np.nanpercentile(flat, lo, axis=0), np.nanpercentile(flat, hi, axis=0)


def _targets(
    polygons: np.ndarray, labels: np.ndarray, ignore: np.ndarray, box_type: str
) -> Targets:
    """Typed targets from tile outlines; degenerate (zero-area) outlines are dropped."""
    if box_type == "rbox":
        boxes: HBoxes | RBoxes = RBoxes.from_polygons(polygons.astype(np.float32))
    else:
        lo, hi = polygons.min(axis=1), polygons.max(axis=1)
        boxes = HBoxes(np.concatenate([lo, hi], axis=1).astype(np.float32).reshape(-1, 4))
    keep = torch.from_numpy(np.asarray(boxes.area() > 0)).reshape(-1)
    return Targets(
        boxes[keep],
        torch.from_numpy(labels).to(torch.int64)[keep],
        torch.from_numpy(ignore).to(torch.bool)[keep],
    )


def collate(items: list[tuple[Tensor, Targets]]) -> tuple[Tensor, list[Targets]]:
    """Stack equally sized tiles: (B, C, T, T) float32 and one :class:`Targets` each."""
    return torch.stack([image for image, _ in items]), [t for _, t in items]


class WindowSampler(Sampler[int]):
    """Yields the loader keys of one epoch: ``epoch * n + i`` for this process's ``i``.

    Under DistributedDataParallel process ``rank`` of ``world`` takes every ``world``-th
    window, so the processes together see each window of the epoch once. ``start`` skips
    the windows already trained on when an epoch is resumed.
    """

    def __init__(self, length: int, rank: int = 0, world: int = 1) -> None:
        self.length, self.rank, self.world = length, rank, world
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch to yield, and the first of this process's windows to yield."""
        self.epoch, self.start = epoch, start

    @property
    def epoch_length(self) -> int:
        """Windows this process sees in a whole epoch."""
        return self.length // self.world

    def __iter__(self) -> Iterator[int]:
        own = range(self.rank, self.length - self.length % self.world, self.world)
        return iter(self.epoch * self.length + i for i in own[self.start :])

    def __len__(self) -> int:
        return max(self.epoch_length - self.start, 0)
