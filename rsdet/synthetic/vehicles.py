"""Vehicles and where they stand: roads with traffic, car parks, and buildings as distractors.

Each painter returns True when it found room (a free, allowed footprint) and painted.
"""

from __future__ import annotations

import math

import numpy as np

from rsdet.synthetic.canvas import Canvas
from rsdet.synthetic.ground import pave
from rsdet.synthetic.shapes import Region, frame, rect

__all__ = ["building", "car", "car_park", "lay_road", "traffic"]


_CAR_COLOURS = [(228, 228, 224), (175, 176, 180), (110, 110, 115), (35, 36, 40), (150, 38, 34),
                (40, 62, 120), (60, 80, 60)]  # fmt: skip
_CAR_FREQ = [0.3, 0.2, 0.15, 0.2, 0.06, 0.06, 0.03]


def car(cv: Canvas, p: np.ndarray, theta: float, on: np.ndarray | None) -> bool:
    """A car (4-5 m) or, now and then, a van or small truck, heading ``theta``."""
    rng = cv.rng
    length, width = cv.m(rng.uniform(4.0, 5.2)), cv.m(rng.uniform(1.7, 2.0))
    if rng.random() < 0.08:
        length, width = cv.m(rng.uniform(6.0, 9.0)), cv.m(rng.uniform(2.2, 2.5))
    body = rect(p[0], p[1], length, width, theta)
    if not cv.fits(body, on):
        return False
    ident = cv.claim(body, body, "vehicle")
    cv.darken([body + cv.shadow * width * 0.35], (0.45, 0.47, 0.55))
    cv.paint(body, _CAR_COLOURS[rng.choice(len(_CAR_COLOURS), p=_CAR_FREQ)], ident=ident)
    glass = frame(np.array([[0.18 * length, 0.0]]), p[0], p[1], theta)[0]
    cv.paint(rect(glass[0], glass[1], 0.18 * length, 0.8 * width, theta), (30, 34, 40), 0.75, ident)
    return True


def lay_road(cv: Canvas, width_m: float) -> tuple[np.ndarray, float, float]:
    """A straight two-lane road across the scene: (a point on it, heading, width in px)."""
    p, theta = cv.point(), cv.rng.uniform(0, math.pi)
    length, width = 3.0 * max(cv.h, cv.w), cv.m(width_m)
    pave(cv, rect(p[0], p[1], length, width, theta), (96, 97, 100))
    along = np.array([math.cos(theta), math.sin(theta)])
    for t in np.arange(-length / 2, length / 2, cv.m(9)):
        q = p + along * t
        cv.paint(rect(q[0], q[1], cv.m(3), cv.m(0.15), theta), (215, 200, 120), 0.8)
    return p, theta, width


def traffic(cv: Canvas, road: tuple[np.ndarray, float, float], rate: float) -> None:
    """Cars in both lanes of a road, with gaps like real traffic."""
    p, theta, width = road
    along, across = (
        np.array([math.cos(theta), math.sin(theta)]),
        np.array([-math.sin(theta), math.cos(theta)]),
    )
    reach = 1.5 * max(cv.h, cv.w)
    for side in (-1, 1):
        t = -reach + cv.rng.uniform(0, cv.m(10))
        while t < reach:
            if cv.rng.random() < rate:
                heading = theta if side > 0 else theta + math.pi
                q = p + along * t + across * side * width / 4
                car(cv, q, heading + cv.rng.normal(0, 0.03), cv.paved)
            t += cv.m(cv.rng.uniform(6.0, 9.0))


def car_park(cv: Canvas, c: np.ndarray, fill: float) -> bool:
    """A rotated car park: rows of stalls with cars parked across the rows."""
    rng = cv.rng
    rows, stalls, theta = int(rng.integers(1, 4)), int(rng.integers(4, 12)), rng.uniform(0, math.pi)
    length, depth = stalls * cv.m(2.6), rows * cv.m(11.0)
    lot = rect(c[0], c[1], length + cv.m(2), depth + cv.m(2), theta)
    if not cv.fits(lot, ground=True):
        return False
    pave(cv, lot, (118, 118, 120))
    for i in range(rows):
        for half in (-1, 1):
            off = -depth / 2 + (i + 0.5) * cv.m(11.0) + half * cv.m(2.9)
            for j in range(stalls):
                along = -length / 2 + (j + 0.5) * cv.m(2.6)
                q, mark = frame(
                    np.array([[along, off], [along + cv.m(1.3), off]]), c[0], c[1], theta
                )
                cv.paint(
                    rect(mark[0], mark[1], cv.m(0.12), cv.m(5.0), theta + math.pi / 2),
                    (220, 220, 215),
                )
                if rng.random() < fill:
                    car(cv, q, theta + math.pi / 2 * half + rng.normal(0, 0.04), cv.paved)
    return True


def building(cv: Canvas, region: Region | None = None) -> bool:
    """An unlabelled roof and its shadow (a large distractor), off roads and water."""
    p, rng = cv.point(region), cv.rng
    roof = rect(p[0], p[1], cv.m(rng.uniform(8, 30)), cv.m(rng.uniform(6, 18)), rng.uniform(0, 3.2))
    if not cv.fits(roof, ground=True):
        return False
    cv.claim(roof, None, None)
    cv.darken([roof + cv.shadow * cv.m(rng.uniform(2, 5))], (0.4, 0.43, 0.52))
    colours = [(150, 150, 150), (170, 95, 75), (95, 95, 100), (200, 195, 185)]
    cv.paint(roof, colours[rng.integers(len(colours))])
    return True
