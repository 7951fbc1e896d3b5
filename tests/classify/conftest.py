from pathlib import Path

import cv2
import numpy as np
import pytest


def two_class_images(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images per class: smooth dark noise (0) vs bright vertical stripes (1)."""
    rng = np.random.default_rng(seed)
    dark = rng.integers(0, 60, (n, size, size, 3)).astype(np.uint8)
    stripes = rng.integers(100, 140, (n, size, size, 3)).astype(np.uint8)
    stripes[:, :, ::4] = 250
    return np.concatenate([dark, stripes]), np.repeat([0, 1], n)


@pytest.fixture
def class_folders(tmp_path: Path) -> Path:
    """folder:PATH layout: ``dark/`` and ``stripes/``, 10 PNGs of 32 px each."""
    images, labels = two_class_images(10, 32)
    for i, (im, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / "scenes" / ("dark", "stripes")[label]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:02d}.png"), im[:, :, ::-1])
    return tmp_path / "scenes"
