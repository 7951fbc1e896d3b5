"""Drawing primitives: outlines in pixels (rectangles, circles, blobs), noise and colour mixing.

Outlines are (K, 2) float64 arrays of ``(x, y)`` pixel coordinates on pixel corners (the
image's top-left corner is ``(0, 0)``). Random shapes draw from the generator they are given,
in a fixed order, so a seed fixes them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["Region", "Rgb", "blob", "circle", "frame", "mix", "noise", "rect", "square"]

Rgb = tuple[float, float, float]
Region = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels

_UNIT = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])


def frame(local: np.ndarray, cx: float, cy: float, theta: float) -> np.ndarray:
    """(K, 2) points in an object frame (x along the heading) -> image pixels."""
    c, s = math.cos(theta), math.sin(theta)
    out: np.ndarray = np.asarray(local, np.float64) @ np.array([[c, s], [-s, c]]) + (cx, cy)
    return out


def rect(cx: float, cy: float, length: float, width: float, theta: float) -> np.ndarray:
    """(4, 2) corners of a rotated rectangle, in the RBoxes corner order."""
    return frame(_UNIT * (length, width), cx, cy, theta)


def square(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """(4, 2) corners of an axis-aligned box (TL, TR, BR, BL)."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def circle(cx: float, cy: float, r: float) -> np.ndarray:
    """(K, 2) outline of a circle."""
    t = np.linspace(0.0, 2 * math.pi, max(16, int(2 * math.pi * r)), endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def blob(cx: float, cy: float, r: float, rng: np.random.Generator, rough: float) -> np.ndarray:
    """(K, 2) irregular round outline: low harmonics shape it, ``rough`` frays its edge."""
    k = max(24, int(2 * math.pi * r / 1.5))
    t = np.linspace(0.0, 2 * math.pi, k, endpoint=False)
    rad = np.ones(k)
    for order in (2, 3, 5):
        rad += rng.uniform(0.0, 0.07) * np.cos(order * t + rng.uniform(0, 2 * math.pi))
    rad *= 1 + rough * rng.uniform(-1.0, 1.0, k)
    return np.stack([cx + r * rad * np.cos(t), cy + r * rad * np.sin(t)], axis=1)


def noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 3) -> np.ndarray:
    """(h, w) float32 smooth noise in about [-1, 1]; ``cell`` is the largest feature, pixels."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp, cell = amp * 0.5, max(cell / 2.0, 1.0)
    return out / total


def mix(a: Rgb, b: Rgb, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of two colours: (h, w) weights in [0, 1] -> (h, w, 3)."""
    t = np.clip(t, 0, 1)[..., None]
    out: np.ndarray = np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t
    return out
