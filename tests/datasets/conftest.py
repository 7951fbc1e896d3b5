"""Tiny fixtures written by the tests themselves, in the official formats."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_image(
    path: Path,
    height: int = 32,
    width: int = 48,
    channels: int = 3,
    dtype: type = np.uint8,
    seed: int = 0,
) -> np.ndarray:
    """Write a random image (PNG/JPEG by suffix); return its pixels in RGB order."""
    rng = np.random.default_rng(seed)
    high = 65535 if dtype == np.uint16 else 255
    rgb = rng.integers(0, high, size=(height, width, channels), endpoint=True).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = rgb[:, :, ::-1] if channels == 3 else rgb
    assert cv2.imwrite(str(path), np.ascontiguousarray(bgr))
    return rgb


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def dota_root(tmp_path: Path) -> Path:
    """DOTA v1.0-style tree: P0001 (header, 2 objects), P0002 (empty file, 9-token style)."""
    root = tmp_path / "dota"
    write_image(root / "images" / "P0001.png", 40, 64)
    write_image(root / "images" / "P0002.png", 32, 32)
    write_text(
        root / "labelTxt" / "P0001.txt",
        "imagesource:GoogleEarth\ngsd:0.146\n"
        "10 10 20 10 20 16 10 16 plane 0\n"
        "30.5 5 40 5 40 12 30.5 12 small-vehicle 1\n",
    )
    write_text(root / "labelTxt" / "P0002.txt", "")
    return root
