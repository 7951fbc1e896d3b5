"""The themes of a mixed scene's blocks: water, apron, tank farm, car parks, forest.

Each theme fills a region ``(x0, y0, x1, y1)`` (pixels) of the canvas.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rsdet.synthetic.canvas import Canvas
from rsdet.synthetic.ground import pave
from rsdet.synthetic.objects import plane, ship, tank
from rsdet.synthetic.shapes import Region, blob, mix, noise, square
from rsdet.synthetic.trees import forest
from rsdet.synthetic.vehicles import building, car, car_park

__all__ = ["THEMES", "theme_apron", "theme_forest", "theme_parking", "theme_tanks", "theme_water"]


def _attempts(count: int, place: Callable[[], bool], tries: int = 8) -> None:
    """Try to place ``count`` objects, giving each ``tries`` random positions."""
    for _ in range(count):
        for _ in range(tries):
            if place():
                break


def _inner(region: Region, frac: float) -> np.ndarray:
    """(4, 2) axis-aligned rectangle: ``region`` shrunk to ``frac`` of its size."""
    x0, y0, x1, y1 = region
    dx, dy = (x1 - x0) * (1 - frac) / 2, (y1 - y0) * (1 - frac) / 2
    return square(x0 + dx, y0 + dy, x1 - dx, y1 - dy)


def theme_water(cv: Canvas, region: Region) -> None:
    """A lake filling most of the region, with boats on it."""
    x0, y0, x1, y1 = region
    r = min(x1 - x0, y1 - y0) / 2 * cv.rng.uniform(0.6, 0.95)
    lake = blob((x0 + x1) / 2, (y0 + y1) / 2, r, cv.rng, 0.0)
    win = cv.window(lake)
    if win is None:
        return
    ripple = noise(cv.rng, win[3] - win[1], win[2] - win[0], 12.0, 2)
    on = pave(cv, lake, mix((38, 62, 78), (52, 80, 92), ripple + 0.5))
    _attempts(int(cv.rng.integers(2, 10)), lambda: ship(cv, cv.point(region), on))


def theme_apron(cv: Canvas, region: Region) -> None:
    """A concrete apron with airplanes and a few service vehicles."""
    on = pave(cv, _inner(region, cv.rng.uniform(0.7, 0.95)), (176, 174, 168))
    _attempts(int(cv.rng.integers(1, 5)), lambda: plane(cv, cv.point(region), on))
    _attempts(
        int(cv.rng.integers(0, 6)), lambda: car(cv, cv.point(region), cv.rng.uniform(0, 6.3), on)
    )


def theme_tanks(cv: Canvas, region: Region) -> None:
    """A tank farm: storage tanks in a grid on a concrete pad."""
    pad = _inner(region, cv.rng.uniform(0.6, 0.9))
    on = pave(cv, pad, (160, 158, 150))
    r = cv.m(cv.rng.uniform(3.0, 10.0))
    step = r * cv.rng.uniform(2.3, 3.0)
    (px0, py0), (px1, py1) = pad[0], pad[2]
    for y in np.arange(py0 + step / 2, py1 - r, step):
        for x in np.arange(px0 + step / 2, px1 - r, step):
            if cv.rng.random() < 0.8:
                tank(cv, np.array([x, y]), r * cv.rng.uniform(0.9, 1.1), on)


def theme_parking(cv: Canvas, region: Region) -> None:
    """One or two car parks and some buildings."""
    _attempts(
        int(cv.rng.integers(1, 3)),
        lambda: car_park(cv, cv.point(region), cv.rng.uniform(0.4, 0.9)),
    )
    _attempts(int(cv.rng.integers(1, 4)), lambda: building(cv, region))


def theme_forest(cv: Canvas, region: Region) -> None:
    """A sparse stand of trees (larger crowns than the ``trees`` kind)."""
    forest(cv, region, density=cv.rng.uniform(0.002, 0.008), radius_m=2.5)


# Lakes, aprons and tank farms (the first three) stay clear of roads; car parks and trees do not.
THEMES: list[Callable[[Canvas, Region], None]] = [
    theme_water,
    theme_apron,
    theme_tanks,
    theme_parking,
    theme_forest,
]
