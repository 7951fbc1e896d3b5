"""Dataset readers and patch splitting: DOTA, AI-TOD, DIOR / DIOR-R, VOC, GeoTIFF, synthetic.

Every reader produces :class:`~rsdet.structures.Sample` objects; :func:`load_dataset` takes
a spec ``FORMAT:PATH[?key=value&...]`` (``synthetic:?key=value&...``: generated in memory,
no path) and returns a :class:`Dataset`. Pixels are read on demand
with :func:`read_image` / :func:`read_region` / :func:`open_image`. Patch geometry (the
patch windows on the tile grid of :mod:`rsdet.tiling`, patch names and mapping patch
results back to the source image) lives in :mod:`~rsdet.datasets.patches` and
:mod:`~rsdet.datasets.clip`.
"""

from rsdet.datasets.classes import AITOD_CLASSES, DIOR_CLASSES, DOTA_CLASSES
from rsdet.datasets.clip import DEFAULT_IOF_THR, Clipped, WindowClipper
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.errors import DatasetError, ImageError, LabelError, SpecError
from rsdet.datasets.loader import FORMATS, load_dataset
from rsdet.datasets.patches import PatchOrigin, parse_patch_name, patch_name, patch_windows
from rsdet.datasets.pixels import ImageReader, open_image, read_image, read_region
from rsdet.datasets.spec import DatasetSpec, parse_spec
from rsdet.tiling import Window, tile_grid, tiles_along

__all__ = [
    "AITOD_CLASSES",
    "DEFAULT_IOF_THR",
    "DIOR_CLASSES",
    "DOTA_CLASSES",
    "FORMATS",
    "Clipped",
    "Dataset",
    "DatasetError",
    "DatasetSpec",
    "ImageError",
    "ImageReader",
    "LabelError",
    "PatchOrigin",
    "SpecError",
    "Window",
    "WindowClipper",
    "load_dataset",
    "open_image",
    "parse_patch_name",
    "parse_spec",
    "patch_name",
    "patch_windows",
    "read_image",
    "read_region",
    "tile_grid",
    "tiles_along",
]
