"""The canvas: the image being painted, what is already taken, and the ground truth so far.

Coordinates are ``(x, y)`` pixels on pixel corners; arrays are (H, W[, 3]) in ``height,
width`` order. Polygons are rasterised with OpenCV at 4x supersampling (anti-aliased edges).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from rsdet.synthetic.kinds import CLASSES
from rsdet.synthetic.shapes import Region, Rgb

__all__ = ["Canvas"]

_SS = 4  # supersampling factor of the polygon rasteriser (anti-aliased edges)


class Canvas:
    """A float RGB image being painted, what is already taken, and the ground truth so far."""

    def __init__(
        self,
        height: int,
        width: int,
        gsd: float,
        rng: np.random.Generator,
        margin: int,
        masks: bool,
        kind: str,
    ) -> None:
        self.h, self.w, self.ppm, self.rng, self.margin = height, width, 1.0 / gsd, rng, margin
        self.classes = CLASSES[kind]
        self.img = np.zeros((height, width, 3), np.float32)
        self.taken = np.zeros((height, width), bool)  # labelled objects and buildings
        self.paved = np.zeros((height, width), bool)  # roads, car parks, aprons, water
        self.polys: list[np.ndarray] = []
        self.labels: list[int] = []
        self.ids = np.zeros((height, width), np.int32) if masks else None
        # Sun low in the south-east, shadows towards the upper left, as in the NEON imagery.
        a = math.radians(rng.uniform(200.0, 240.0))
        self.shadow = np.array([math.cos(a), math.sin(a)])
        # Relief displacement: tall crowns lean away from the camera's nadir, one way per scene.
        b = rng.uniform(0, 2 * math.pi)
        self.lean = np.array([math.cos(b), math.sin(b)])

    def m(self, metres: float) -> float:
        """Metres to pixels."""
        return metres * self.ppm

    def point(self, region: Region | None = None) -> np.ndarray:
        """A uniform random point ``(x, y)`` in ``region`` (default: inside the margin)."""
        b = float(self.margin)
        x0, y0, x1, y1 = region if region is not None else (0.0, 0.0, self.w, self.h)
        lo = (max(x0, b), max(y0, b))
        hi = (max(min(x1, self.w - b), lo[0] + 1), max(min(y1, self.h - b), lo[1] + 1))
        return self.rng.uniform(lo, hi)

    def window(self, poly: np.ndarray) -> tuple[int, int, int, int] | None:
        """Integer pixel window ``(x0, y0, x1, y1)`` around ``poly``, clipped; None if outside."""
        x0, y0 = np.floor(poly.min(0)).astype(int) - 1
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.w), min(y1, self.h)
        return None if x1 <= x0 or y1 <= y0 else (int(x0), int(y0), int(x1), int(y1))

    def coverage(self, poly: np.ndarray, win: tuple[int, int, int, int]) -> np.ndarray:
        """(h, w) float32 fraction of each window pixel inside ``poly`` (supersampled)."""
        x0, y0, x1, y1 = win
        m = np.zeros(((y1 - y0) * _SS, (x1 - x0) * _SS), np.uint8)
        # cv2 puts integer coordinates on pixel centres; ours are on pixel corners.
        pts = (poly - (x0, y0)) * _SS - 0.5
        cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4)
        small = cv2.resize(m, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        return small.astype(np.float32) / 255.0

    def paint(
        self,
        poly: np.ndarray,
        rgb: Rgb | np.ndarray,
        opacity: float = 1.0,
        ident: int | None = None,
    ) -> None:
        """Blend a colour (or an (h, w, 3) texture over the window) into ``poly``.

        ``ident`` is the 1-based object the paint belongs to; opaque paint of anything else
        hides whatever object was below it in the instance map.
        """
        win = self.window(poly)
        if win is None:
            return
        x0, y0, x1, y1 = win
        cov = self.coverage(poly, win)
        a = cov[..., None] * opacity
        view = self.img[y0:y1, x0:x1]
        view *= 1 - a
        view += a * (np.asarray(rgb, np.float32) if isinstance(rgb, tuple) else rgb)
        if self.ids is not None and opacity >= 0.5:
            self.ids[y0:y1, x0:x1][cov > 0.5] = ident or 0

    def darken(self, polys: list[np.ndarray], factor: Rgb, soft: float = 0.0) -> None:
        """Multiply the pixels inside the union of ``polys`` by ``factor`` (a shadow).

        ``soft`` is the blur (pixels) of the shadow's edge: the sun is a disc, not a point.
        """
        pts = np.concatenate(polys)
        pad = math.ceil(2 * soft)
        win = self.window(
            np.concatenate([pts.min(0, keepdims=True) - pad, pts.max(0, keepdims=True) + pad])
        )
        if win is None:
            return
        x0, y0, x1, y1 = win
        a = np.max([self.coverage(p, win) for p in polys], axis=0)
        if soft > 0:
            a = cv2.GaussianBlur(a, (0, 0), soft)
        self.img[y0:y1, x0:x1] *= 1 - a[..., None] * (1 - np.asarray(factor, np.float32))

    def mask(self, poly: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """Pixels mostly inside ``poly`` (bool, over the window) and that window."""
        win = self.window(poly)
        return None if win is None else (self.coverage(poly, win) > 0.25, win)

    def fits(self, poly: np.ndarray, on: np.ndarray | None = None, ground: bool = False) -> bool:
        """True when ``poly`` lies inside the margin on free pixels.

        Args:
            on: a map the whole object must stand on (a lake for a ship).
            ground: the object must avoid every paved surface (trees, buildings).
        """
        lo, hi, b = poly.min(0), poly.max(0), self.margin + 1
        if lo[0] < b or lo[1] < b or hi[0] > self.w - b or hi[1] > self.h - b:
            return False
        got = self.mask(poly)
        if got is None:
            return False
        m, (x0, y0, x1, y1) = got
        if self.taken[y0:y1, x0:x1][m].any():
            return False
        if ground and self.paved[y0:y1, x0:x1][m].any():
            return False
        return on is None or bool(on[y0:y1, x0:x1][m].all())

    def claim(self, footprint: np.ndarray, box: np.ndarray | None, cls: str | None) -> int | None:
        """Mark ``footprint`` taken; with a class, record ``box`` (4, 2) and return its ident."""
        got = self.mask(footprint)
        if got is not None:
            m, (x0, y0, x1, y1) = got
            self.taken[y0:y1, x0:x1] |= m
        if cls is None or box is None or cls not in self.classes:
            return None
        self.polys.append(box)
        self.labels.append(self.classes.index(cls))
        return len(self.labels)

    def surface(self, poly: np.ndarray) -> np.ndarray:
        """An (H, W) bool map of ``poly`` (where objects may stand, e.g. a lake)."""
        out = np.zeros_like(self.taken)
        got = self.mask(poly)
        if got is not None:
            m, (x0, y0, x1, y1) = got
            out[y0:y1, x0:x1] = m
        return out

    def finish(self) -> np.ndarray:
        """Optics blur, sensor noise and the nodata border; (H, W, 3) uint8."""
        img = cv2.GaussianBlur(self.img, (0, 0), 0.55)
        img += np.asarray(self.rng.normal(0.0, 2.5, img.shape), np.float32)
        out = np.clip(img, 1, 255).astype(np.uint8)  # 0 is kept for nodata
        b = self.margin
        if b > 0:
            out[:b], out[-b:], out[:, :b], out[:, -b:] = 0, 0, 0, 0
        return out
