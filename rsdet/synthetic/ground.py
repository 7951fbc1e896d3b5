"""Ground cover: meadow and farmland backgrounds, paved surfaces, unlabelled litter."""

from __future__ import annotations

import math

import numpy as np

from rsdet.synthetic.canvas import Canvas
from rsdet.synthetic.shapes import Rgb, blob, mix, noise, rect

__all__ = ["fields", "grass", "litter", "pave"]


def grass(cv: Canvas) -> None:
    """Meadow: grass, dry patches, bare soil, sagebrush speckle (the NEON Yellowstone look)."""
    h, w, rng = cv.h, cv.w, cv.rng
    dry = noise(rng, h, w, cv.m(30), 4) + 0.5 + 0.5 * noise(rng, h, w, cv.m(1.5), 2)
    ground = mix((122, 146, 88), (176, 178, 136), dry)
    soil = noise(rng, h, w, cv.m(12), 3)
    bare = mix((150, 140, 108), (190, 180, 146), soil + 0.3 * noise(rng, h, w, 2.0, 1))
    ground = mix((0, 0, 0), (1, 1, 1), (soil - 0.42) * 8) * (bare - ground) + ground
    sage = noise(rng, h, w, cv.m(0.35), 1)  # knee-high grey shrubs, a few pixels across
    ground = mix((0, 0, 0), (1, 1, 1), (sage - 0.55) * 4) * ((170, 176, 152) - ground) + ground
    tufts = noise(rng, h, w, cv.m(0.5), 2) + 0.6 * rng.normal(0, 1, (h, w)).astype(np.float32)
    cv.img[:] = ground * (1 + 0.14 * tufts)[..., None]


def fields(cv: Canvas) -> None:
    """Farmland and rough ground: large patches of crop, grass and soil."""
    h, w, rng = cv.h, cv.w, cv.rng
    palette = [(110, 135, 80), (150, 155, 105), (170, 150, 115), (95, 120, 70), (185, 175, 140)]
    base = mix((120, 140, 90), (165, 160, 120), noise(rng, h, w, cv.m(60), 4) + 0.5)
    cv.img[:] = base * (1 + 0.06 * noise(rng, h, w, 3.0, 2))[..., None]
    for _ in range(max(2, int(h * w / 300**2))):
        c = cv.point()
        field = rect(c[0], c[1], rng.uniform(60, 260), rng.uniform(50, 200), rng.uniform(0, 3.2))
        cv.paint(field, palette[rng.integers(len(palette))], opacity=rng.uniform(0.5, 0.9))


def pave(cv: Canvas, poly: np.ndarray, rgb: Rgb | np.ndarray) -> np.ndarray:
    """Paint a surface objects may stand on (asphalt, concrete, water); returns its map."""
    cv.paint(poly, rgb)
    on = cv.surface(poly)
    cv.paved |= on
    return on


def litter(cv: Canvas, logs: int, shrubs: int) -> None:
    """Unlabelled distractors: fallen pale trunks and small dark understory bushes."""
    for _ in range(logs):
        p, theta = cv.point(), cv.rng.uniform(0, math.pi)
        width = cv.m(cv.rng.uniform(0.15, 0.3))
        log = rect(p[0], p[1], cv.m(cv.rng.uniform(4, 18)), width, theta)
        cv.darken([log + cv.shadow * width], (0.55, 0.6, 0.7))
        cv.paint(log, (205, 203, 192), opacity=0.9)
    for _ in range(shrubs):  # sagebrush and juniper: grey-green, textured, irregular
        p = cv.point()
        bush = blob(p[0], p[1], cv.m(cv.rng.lognormal(-0.9, 0.4)), cv.rng, 0.3)
        win = cv.window(bush)
        if win is not None:
            tex = noise(cv.rng, win[3] - win[1], win[2] - win[0], 2.0, 1) + cv.rng.uniform(
                -0.3, 0.5
            )
            cv.paint(bush, mix((62, 86, 52), (128, 140, 104), tex + 0.3), 0.85)
