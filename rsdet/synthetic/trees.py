"""Conifers: crowns with their shadows, in clumps and alone (labelled ``tree``)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from rsdet.synthetic.canvas import Canvas
from rsdet.synthetic.shapes import Region, blob, mix, noise, square

__all__ = ["forest"]


def _tree(
    cv: Canvas, cx: float, cy: float, r: float
) -> tuple[np.ndarray, list[np.ndarray], int] | None:
    """Reserve a conifer crown of radius ``r`` px: (outline, shadow parts, ident), or None."""
    rng = cv.rng
    outline = blob(cx, cy, r, rng, 0.16)
    # Seen off-nadir, a tall crown is drawn out along the lean direction.
    stretch = rng.uniform(0.0, 0.35) * np.outer(cv.lean, cv.lean)
    outline = (outline - (cx, cy)) @ (np.eye(2) + stretch) + (cx, cy)
    core = (outline - (cx, cy)) * 0.75 + (cx, cy)  # neighbouring crowns may touch and overlap
    if not cv.fits(core, ground=True):
        return None
    ident = cv.claim(core, square(*outline.min(0), *outline.max(0)), "tree")
    # Shadow: the crown swept away from the sun, narrowing like a conifer seen from the side.
    length = r * rng.uniform(1.8, 3.4)
    shadow = [
        blob(cx, cy, r * (1 - 0.7 * t), rng, 0.2) + cv.shadow * length * t
        for t in np.linspace(0.0, 1.0, 6)
    ]
    return outline, shadow, ident or 0


def _crown(cv: Canvas, outline: np.ndarray, ident: int) -> None:
    """Paint a conifer crown: a sunlit and a shaded flank, radial branches, needle clumps."""
    win = cv.window(outline)
    if win is None:
        return
    x0, y0, x1, y1 = win
    rng, c = cv.rng, outline.mean(0)
    r = float(np.linalg.norm(outline - c, axis=1).mean())
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    u, v = (xs - c[0]) / r, (ys - c[1]) / r
    d = np.sqrt(u * u + v * v) + 1e-6
    # A cone lit from the side opposite the shadow: Lambert shading of its slanted surface.
    sun = -cv.shadow
    lit = 0.5 + 0.5 * (u * sun[0] + v * sun[1]) / d * np.clip(d * 2, 0, 1)
    # Whorls of branches radiate from the leader: spokes that wobble with the radius.
    spokes = np.sin(rng.integers(6, 12) * np.arctan2(v, u) + 4 * d + rng.uniform(0, 6.3))
    clumps = noise(rng, y1 - y0, x1 - x0, max(r / 5, 1.5), 2)
    # Needle texture smeared along the lean, as orthophotos smear tall trees.
    streak = _streaks(rng.normal(0, 1, clumps.shape).astype(np.float32), cv.lean, r * 0.5)
    shade = lit * (0.8 + 0.2 * spokes * np.clip(d, 0, 1)) + 0.45 * clumps + 0.5 * streak
    shade -= 0.3 * np.clip(d - 0.7, 0, 1) / 0.3  # gaps between the outer branches
    tone = rng.uniform(-15, 15)
    rgb = mix((30, 44, 32), (188 + tone, 192 + tone, 116 + tone / 2), shade)
    cv.paint(outline, rgb, ident=ident)


def _streaks(values: np.ndarray, direction: np.ndarray, length: float) -> np.ndarray:
    """(h, w) ``values`` averaged along a line of ``length`` pixels in ``direction`` (blur)."""
    k = max(3, int(length) | 1)
    kernel = np.zeros((k, k), np.float32)
    half = (k - 1) / 2
    for t in np.linspace(-half, half, 2 * k):
        kernel[round(half + t * direction[1]), round(half + t * direction[0])] = 1.0
    out: np.ndarray = cv2.filter2D(values, -1, kernel / kernel.sum()) * math.sqrt(k / 2)
    return out


def forest(cv: Canvas, region: Region | None, density: float, radius_m: float) -> None:
    """Clumps of trees (a cluster process) and single trees; all shadows under all crowns.

    Args:
        density: attempted trees per square metre of ``region``.
        radius_m: median crown radius, metres (log-normal spread, capped at twice that).
    """
    rng = cv.rng
    x0, y0, x1, y1 = region if region is not None else (0.0, 0.0, cv.w, cv.h)
    area = (x1 - x0) * (y1 - y0) / cv.ppm**2
    centres = [cv.point(region) for _ in range(rng.poisson(max(area * density / 8.0, 0.5)))]
    spreads = [cv.m(rng.uniform(3.0, 12.0)) for _ in centres]
    placed = []
    for i in range(int(area * density * 1.6)):
        if centres and i % 5:  # 4 in 5 trees join a clump
            k = rng.integers(len(centres))
            p = centres[k] + rng.normal(0, spreads[k], 2)
        else:
            p = cv.point(region)
        radius = min(rng.lognormal(math.log(radius_m), 0.38), 2 * radius_m)
        got = _tree(cv, float(p[0]), float(p[1]), cv.m(radius))
        if got is not None:
            placed.append(got)
    for _, shadow, _ in placed:
        cv.darken(shadow, (0.30, 0.40, 0.62), soft=cv.m(0.12))
    for outline, _, ident in placed:
        _crown(cv, outline, ident)
