import cv2
import numpy as np
import pytest

from rsdet.datasets import ImageError, open_image, read_image, read_region
from rsdet.datasets.pixels import encode_png, image_size
from rsdet.structures import Sample

from .conftest import write_image
from .geo_fixtures import write_scene


def test_png_comes_back_in_rgb_order(tmp_path):
    path = tmp_path / "a.png"
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    cv2.imwrite(str(path), bgr)
    rgb = read_image(path)
    assert rgb.shape == (4, 6, 3) and rgb[0, 0].tolist() == [0, 0, 200]


def test_sixteen_bit_and_grayscale_keep_dtype_and_get_a_channel_axis(tmp_path):
    deep = write_image(tmp_path / "d.png", 8, 10, channels=3, dtype=np.uint16)
    got = read_image(tmp_path / "d.png")
    assert got.dtype == np.uint16 and np.array_equal(got, deep)
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    assert read_image(tmp_path / "g.png").shape == (4, 5, 1)
    assert image_size(tmp_path / "d.png") == (8, 10)


def test_region_outside_the_image_is_zero_filled(tmp_path):
    rgb = write_image(tmp_path / "a.png", 32, 48)
    region = read_region(tmp_path / "a.png", top=-2, left=40, height=6, width=12)
    assert region.shape == (6, 12, 3)
    assert np.array_equal(region[2:, :8], rgb[0:4, 40:48])
    assert not region[:2].any() and not region[:, 8:].any()


def test_geotiff_windows_read_only_the_window(tmp_path):
    pixels = write_scene(tmp_path / "s.tif", height=40, width=60, count=4)
    with open_image(tmp_path / "s.tif") as reader:
        assert (reader.height, reader.width, reader.count, reader.dtype) == (40, 60, 4, np.uint16)
        window = reader.read_region(10, 20, 5, 7)
        assert np.array_equal(window, pixels[10:15, 20:27])
        # Half resolution: 2 x 2 source pixels (1, 2, 101, 102) average into one, 51.5 -> 52.
        half = reader.read_region(0, 0, 2, 2, scale=0.5)
        assert half.shape == (2, 2, 4) and half[0, 0, 0] == 52


def test_scaled_png_region_matches_opencv_resize(tmp_path):
    rgb = write_image(tmp_path / "a.png", 32, 48)
    with open_image(tmp_path / "a.png") as reader:
        got = reader.read_region(4, 4, 8, 8, scale=0.5)
    expect = cv2.resize(rgb, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)[4:12, 4:12]
    assert np.array_equal(got, expect)


def test_in_memory_sample_pixels(tmp_path):
    pixels = np.arange(24, dtype=np.uint8).reshape(4, 6)
    sample = Sample("mem", 4, 6, np.zeros((0, 4, 2)), np.zeros(0), image=pixels)
    assert read_image(sample).shape == (4, 6, 1)


def test_missing_and_corrupt_images_name_the_file(tmp_path):
    with pytest.raises(ImageError, match=r"nope.png: image not found"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match=r"bad.jpg: cannot decode image"):
        read_image(tmp_path / "bad.jpg")
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(ImageError, match=r"bad.tif: cannot open raster"):
        read_image(tmp_path / "bad.tif")


def test_png_encoding_refuses_what_png_cannot_hold(tmp_path):
    with pytest.raises(
        ImageError, match="PNG holds 1, 3 or 4 channels of uint8 or uint16, got 5 channels"
    ):
        encode_png(np.zeros((2, 2, 5), np.uint8), tmp_path / "x.png")
    data = encode_png(np.full((2, 2, 3), 7, np.uint16), tmp_path / "x.png")
    (tmp_path / "x.png").write_bytes(data)
    assert read_image(tmp_path / "x.png").dtype == np.uint16


def test_rgba_png_keeps_alpha_last(tmp_path):
    bgra = np.zeros((2, 3, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 10, 255  # blue, opaque
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    assert read_image(tmp_path / "a.png")[0, 0].tolist() == [0, 0, 10, 255]
