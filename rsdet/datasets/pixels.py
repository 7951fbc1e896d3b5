"""Pixel access for samples: whole images and windows, as (H, W, C) arrays in RGB order.

* PNG / JPEG / BMP are decoded with OpenCV (``IMREAD_UNCHANGED``: 16-bit PNGs stay uint16,
  grayscale becomes one channel, BGR(A) is reordered to RGB(A); EXIF orientation is not
  applied, because labels refer to the stored pixel grid). Reading a window decodes the
  whole file once per :class:`ImageReader`.
* GeoTIFF / TIFF / VRT / JPEG 2000 are read with rasterio, all bands in file order, and a
  window reads only that window.

Windows are given in pixels, rows and columns of the image (optionally resampled by a
``scale`` factor); parts of a window outside the image are filled with ``fill``, so a
window always has the requested shape.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from rsdet.datasets.errors import ImageError
from rsdet.structures import Sample

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReader",
    "encode_png",
    "image_size",
    "is_raster_path",
    "open_image",
    "read_image",
    "read_region",
]

RASTER_SUFFIXES = frozenset({".tif", ".tiff", ".vrt", ".jp2", ".img"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp"}) | RASTER_SUFFIXES


def is_raster_path(path: Path) -> bool:
    """True for files read through rasterio (GeoTIFF and friends) rather than OpenCV."""
    return path.suffix.lower() in RASTER_SUFFIXES


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of an image from its header, without decoding the pixels."""
    import rasterio

    if not path.is_file():
        raise ImageError(f"{path}: image not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PNG/JPEG are "not georeferenced": expected
            with rasterio.open(path) as ds:
                return int(ds.height), int(ds.width)
    except rasterio.errors.RasterioIOError as err:
        raise ImageError(f"{path}: cannot read image header ({_first_line(err)})") from None


class ImageReader(ABC):
    """An open image. Use as a context manager; see :func:`open_image`.

    Attributes:
        height, width: size in pixels.
        count: number of channels (bands).
        dtype: numpy dtype of the pixels.
    """

    height: int
    width: int
    count: int
    dtype: np.dtype

    @abstractmethod
    def read(self) -> np.ndarray:
        """The whole image, (H, W, C)."""

    @abstractmethod
    def read_region(
        self, top: int, left: int, height: int, width: int, scale: float = 1.0, fill: float = 0
    ) -> np.ndarray:
        """A window of the image resampled by ``scale``.

        Args:
            top, left: first row and column of the window, in pixels of the scaled image
                (whose size is ``round(H * scale), round(W * scale)``); may be negative.
            height, width: window size in scaled pixels.
            scale: resampling factor (0.5 = half resolution); 1 reads pixels unchanged.
            fill: value of window pixels outside the image.

        Returns:
            (height, width, C) array of the image's dtype.
        """

    def close(self) -> None:  # noqa: B027 (decoded images hold no file)
        """Release the file (a no-op for decoded images)."""

    def __enter__(self) -> ImageReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _paste(
    valid: np.ndarray,
    rows: tuple[int, int],
    cols: tuple[int, int],
    shape: tuple[int, int, int],
    fill: float,
) -> np.ndarray:
    """Place the in-image part ``valid`` of a window into a ``fill``-ed array of ``shape``."""
    if valid.shape == shape:
        return valid
    out = np.full(shape, fill, dtype=valid.dtype)
    out[rows[0] : rows[0] + valid.shape[0], cols[0] : cols[0] + valid.shape[1]] = valid
    return out


def _clip_range(start: int, length: int, size: int) -> tuple[int, int]:
    """The part of ``[start, start + length)`` inside ``[0, size)``, as (begin, end)."""
    return max(start, 0), max(min(start + length, size), max(start, 0))


class _ArrayImage(ImageReader):
    """An image held in memory (decoded PNG/JPEG, or a sample's in-memory pixels)."""

    def __init__(self, pixels: np.ndarray) -> None:
        self._pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
        self.height, self.width, self.count = self._pixels.shape
        self.dtype = self._pixels.dtype
        self._scaled: tuple[float, np.ndarray] | None = None

    def read(self) -> np.ndarray:
        return self._pixels

    def _at_scale(self, scale: float) -> np.ndarray:
        if scale == 1.0:
            return self._pixels
        if self._scaled is None or self._scaled[0] != scale:
            # INTER_AREA averages when shrinking (no aliasing); cubic enlarges as DOTA_devkit.
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            scaled = cv2.resize(self._pixels, None, fx=scale, fy=scale, interpolation=interp)
            self._scaled = (scale, scaled if scaled.ndim == 3 else scaled[:, :, None])
        return self._scaled[1]

    def read_region(
        self, top: int, left: int, height: int, width: int, scale: float = 1.0, fill: float = 0
    ) -> np.ndarray:
        pixels = self._at_scale(scale)
        r0, r1 = _clip_range(top, height, pixels.shape[0])
        c0, c1 = _clip_range(left, width, pixels.shape[1])
        valid = pixels[r0:r1, c0:c1]
        shape = (height, width, pixels.shape[2])
        return _paste(valid, (r0 - top, r1 - top), (c0 - left, c1 - left), shape, fill)


class _RasterImage(ImageReader):
    """A GeoTIFF (or any GDAL raster) read window by window."""

    def __init__(self, path: Path) -> None:
        import rasterio

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._ds = rasterio.open(path)
        except rasterio.errors.RasterioIOError as err:
            raise ImageError(f"{path}: cannot open raster ({_first_line(err)})") from None
        self.path = path
        self.height, self.width, self.count = self._ds.height, self._ds.width, self._ds.count
        self.dtype = np.dtype(self._ds.dtypes[0])

    def read(self) -> np.ndarray:
        return self._read(None, None, 0)

    def _read(
        self, window: object, out_shape: tuple[int, int, int] | None, resampling: int
    ) -> np.ndarray:
        import rasterio

        try:
            bands = self._ds.read(window=window, out_shape=out_shape, resampling=resampling)
        except rasterio.errors.RasterioIOError as err:
            cause = err.__cause__ or err.__context__ or err  # GDAL's cause says which block
            raise ImageError(
                f"{self.path}: cannot read pixels ({_first_line(cause)}); the file may be "
                "truncated or damaged"
            ) from None
        return np.ascontiguousarray(np.moveaxis(bands, 0, -1))

    def read_region(
        self, top: int, left: int, height: int, width: int, scale: float = 1.0, fill: float = 0
    ) -> np.ndarray:
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        scaled_h, scaled_w = round(self.height * scale), round(self.width * scale)
        r0, r1 = _clip_range(top, height, scaled_h)
        c0, c1 = _clip_range(left, width, scaled_w)
        shape = (height, width, self.count)
        if r1 <= r0 or c1 <= c0:
            return np.full(shape, fill, dtype=self.dtype)
        # Source window in original pixels; rasterio honours fractional offsets.
        col_off, row_off = c0 / scale, r0 / scale
        src_w = min((c1 - c0) / scale, self.width - col_off)
        src_h = min((r1 - r0) / scale, self.height - row_off)
        resampling = Resampling.average if scale < 1 else Resampling.cubic
        out_shape = None if scale == 1.0 else (self.count, r1 - r0, c1 - c0)
        valid = self._read(Window(col_off, row_off, src_w, src_h), out_shape, resampling)
        return _paste(valid, (r0 - top, r1 - top), (c0 - left, c1 - left), shape, fill)

    def close(self) -> None:
        self._ds.close()


def _decode(path: Path) -> np.ndarray:
    """Decode a PNG/JPEG/BMP file to (H, W, C) RGB(A), keeping its dtype."""
    if not path.is_file():
        raise ImageError(f"{path}: image not found")
    # imdecode of the raw bytes also works for non-ASCII paths, unlike imread on Windows.
    pixels = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageError(f"{path}: cannot decode image (corrupt or unsupported file)")
    if pixels.ndim == 2:
        return pixels[:, :, None]
    if pixels.shape[2] == 3:
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if pixels.shape[2] == 4:
        return np.ascontiguousarray(pixels[:, :, [2, 1, 0, 3]])
    return pixels


def open_image(source: Sample | Path) -> ImageReader:
    """Open a sample's image (or an image file) for reading.

    Raises:
        ImageError: the file is missing or unreadable, or the sample has no image.
    """
    if isinstance(source, Sample):
        if source.image is not None:
            return _ArrayImage(np.asarray(source.image))
        if source.image_path is None:
            raise ImageError(f"{source.image_id}: the sample has neither pixels nor an image path")
        source = source.image_path
    if is_raster_path(source):
        if not source.is_file():
            raise ImageError(f"{source}: image not found")
        return _RasterImage(source)
    return _ArrayImage(_decode(source))


def read_image(source: Sample | Path) -> np.ndarray:
    """The whole image of a sample, (H, W, C) in RGB order with the file's dtype."""
    with open_image(source) as reader:
        return reader.read()


def read_region(
    source: Sample | Path, top: int, left: int, height: int, width: int, fill: float = 0
) -> np.ndarray:
    """Rows ``[top, top+height)`` and columns ``[left, left+width)`` of a sample's image.

    GeoTIFFs read only the window; PNG/JPEG decode the whole file. Pixels outside the image
    are ``fill``. Returns (height, width, C), RGB order, the file's dtype.
    """
    with open_image(source) as reader:
        return reader.read_region(top, left, height, width, fill=fill)


def encode_png(pixels: np.ndarray, path_for_errors: Path) -> bytes:
    """PNG bytes of an (H, W, C) RGB(A) uint8 / uint16 image with 1, 3 or 4 channels."""
    if pixels.dtype not in (np.uint8, np.uint16) or pixels.shape[2] not in (1, 3, 4):
        raise ImageError(
            f"{path_for_errors}: PNG holds 1, 3 or 4 channels of uint8 or uint16, got "
            f"{pixels.shape[2]} channels of {pixels.dtype}"
        )
    order = {1: [0], 3: [2, 1, 0], 4: [2, 1, 0, 3]}[pixels.shape[2]]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(pixels[:, :, order]))
    if not ok:
        raise ImageError(f"{path_for_errors}: OpenCV could not encode the PNG")
    return bytes(buf.tobytes())


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
