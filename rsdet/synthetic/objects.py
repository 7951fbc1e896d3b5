"""The other labelled objects of the mixed kind: ships, airplanes and storage tanks.

Each painter returns True when it found room (a free footprint on the surface ``on``) and
painted the object.
"""

from __future__ import annotations

import math

import numpy as np

from rsdet.synthetic.canvas import Canvas
from rsdet.synthetic.shapes import circle, frame, rect, square

__all__ = ["plane", "ship", "tank"]


def _claim_rect(
    cv: Canvas, p: np.ndarray, on: np.ndarray, size: tuple[float, float, float], kind: str
) -> tuple[bool, int | None]:
    """Claim the oriented box ``(length, width, theta)`` at ``p`` for ``kind``.

    Returns:
        Whether it fits (inside the allowed ground, clear of other objects), and the
        object's ident (None when the scene does not label ``kind``).
    """
    box = rect(p[0], p[1], *size)
    if not cv.fits(box, on):
        return False, None
    return True, cv.claim(box, box, kind)


def ship(cv: Canvas, p: np.ndarray, on: np.ndarray) -> bool:
    """A boat: pointed hull, deck house, sometimes a pale wake astern; box = length x beam."""
    rng = cv.rng
    length = cv.m(rng.uniform(8, 30))
    width, theta = length * rng.uniform(0.22, 0.32), rng.uniform(-math.pi, math.pi)
    placed, ident = _claim_rect(cv, p, on, (length, width, theta), "ship")
    if not placed:
        return False
    if rng.random() < 0.5:
        wake = np.array([[-0.5, -0.4], [-0.5, 0.4], [-1.4, 0.8], [-1.4, -0.8]])
        cv.paint(frame(wake * (length, width), p[0], p[1], theta), (120, 140, 145), opacity=0.35)
    hull = np.array([[-0.5, -0.5], [0.25, -0.5], [0.5, 0.0], [0.25, 0.5], [-0.5, 0.5]])
    colours = [(225, 225, 220), (170, 60, 50), (60, 65, 75), (200, 200, 190)]
    cv.paint(
        frame(hull * (length, width), p[0], p[1], theta), colours[rng.integers(4)], ident=ident
    )
    house = frame(np.array([[-0.3 * length, 0.0]]), p[0], p[1], theta)[0]
    cv.paint(
        rect(house[0], house[1], 0.25 * length, 0.6 * width, theta), (240, 240, 235), ident=ident
    )
    return True


def plane(cv: Canvas, p: np.ndarray, on: np.ndarray) -> bool:
    """An airplane: fuselage, swept wings, tailplane; box = length x wingspan."""
    rng = cv.rng
    length = cv.m(rng.uniform(10, 32))
    span, theta = length * rng.uniform(0.85, 1.15), rng.uniform(-math.pi, math.pi)
    placed, ident = _claim_rect(cv, p, on, (length, span, theta), "airplane")
    if not placed:
        return False
    fw = 0.055 * length / span  # fuselage half-width, in units of the span
    parts = [  # in units of (length, span), nose towards +x
        [[0.5, 0.0], [0.42, -fw], [-0.5, -fw / 2], [-0.5, fw / 2], [0.42, fw]],
        [[0.12, -fw], [-0.12, -0.5], [-0.2, -0.5], [-0.08, -fw],
         [-0.08, fw], [-0.2, 0.5], [-0.12, 0.5], [0.12, fw]],
        [[-0.38, -fw], [-0.47, -0.18], [-0.5, -0.18], [-0.5, 0.18], [-0.47, 0.18], [-0.38, fw]],
    ]  # fmt: skip
    outlines = [frame(np.array(part) * (length, span), p[0], p[1], theta) for part in parts]
    lift = cv.shadow * cv.m(rng.uniform(1.5, 3.0))
    cv.darken([o + lift for o in outlines], (0.5, 0.52, 0.6))
    grey = rng.uniform(215, 240)
    for outline in outlines:
        cv.paint(outline, (grey, grey, grey), ident=ident)
    return True


def tank(cv: Canvas, p: np.ndarray, r: float, on: np.ndarray) -> bool:
    """A round storage tank: pale roof, darker rim, shadow; box = the axis-aligned square."""
    disc = circle(p[0], p[1], r)
    if not cv.fits(disc, on):
        return False
    ident = cv.claim(disc, square(p[0] - r, p[1] - r, p[0] + r, p[1] + r), "storage-tank")
    cv.darken([disc + cv.shadow * r * 0.45], (0.35, 0.38, 0.48))
    tone = cv.rng.uniform(185, 235)
    cv.paint(disc, (tone * 0.75, tone * 0.75, tone * 0.73), ident=ident)
    cv.paint(circle(p[0], p[1], r * 0.85), (tone, tone, tone * 0.97), ident=ident)
    return True
