"""Scene kinds and :func:`make_scene`: one seed, one scene with its exact ground truth."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rsdet.config import ConfigError
from rsdet.structures import Sample
from rsdet.synthetic.canvas import Canvas
from rsdet.synthetic.ground import fields, grass, litter
from rsdet.synthetic.kinds import CLASSES, DEFAULT_GSD
from rsdet.synthetic.themes import THEMES
from rsdet.synthetic.trees import forest
from rsdet.synthetic.vehicles import building, car_park, lay_road, traffic

__all__ = ["make_scene"]


def make_scene(
    seed: int,
    size: int | tuple[int, int] = 512,
    kind: str = "mixed",
    gsd: float | None = None,
    nodata: int = 0,
    masks: bool = False,
) -> Sample:
    """Draw one scene.

    Args:
        seed: any non-negative integer; equal seeds give identical scenes.
        size: edge in pixels, or ``(height, width)``.
        kind: ``trees``, ``vehicles`` or ``mixed``.
        gsd: metres per pixel (None: the kind's default); object sizes in pixels follow it.
        nodata: width in pixels of a border left at value 0 (no object reaches into it).
        masks: also return ``meta["instances"]``, an (H, W) int32 map with ``i + 1`` where
            object ``i`` is visible and 0 elsewhere (used to check the boxes).

    Returns:
        A :class:`Sample` with ``image`` (H, W, 3) uint8 RGB, polygons (N, 4, 2) in pixels,
        labels into :data:`CLASSES` ``[kind]``, and ``meta`` with ``gsd``, ``kind``, ``classes``
        and ``nodata`` (0 when there is a border, else None).
    """
    if kind not in CLASSES:
        raise ConfigError(f"synthetic kind {kind!r}: expected one of {list(CLASSES)}")
    height, width = (size, size) if isinstance(size, int) else size
    gsd = DEFAULT_GSD[kind] if gsd is None else float(gsd)
    if height < 16 or width < 16 or gsd <= 0:
        raise ConfigError(f"synthetic scene: size {height}x{width} or gsd {gsd} is too small")
    cv = Canvas(height, width, gsd, np.random.default_rng(seed), nodata, masks, kind)
    _COMPOSERS[kind](cv)
    image = cv.finish()
    meta: dict[str, object] = {"gsd": gsd, "kind": kind, "classes": CLASSES[kind]}
    meta["nodata"] = 0 if nodata > 0 else None
    if cv.ids is not None:
        meta["instances"] = cv.ids
    n = len(cv.labels)
    return Sample(
        image_id=f"synthetic_{kind}_{seed}",
        height=height,
        width=width,
        polygons=np.asarray(cv.polys, np.float64).reshape(n, 4, 2),
        labels=np.asarray(cv.labels, np.int64),
        image=image,
        meta=meta,
    )


def _compose_trees(cv: Canvas) -> None:
    """Meadow with fallen logs and shrubs under clumps of conifers."""
    grass(cv)
    area_ha = cv.h * cv.w / cv.ppm**2 / 1e4
    litter(cv, logs=int(area_ha * cv.rng.uniform(10, 60)), shrubs=int(area_ha * 250))
    forest(cv, None, density=cv.rng.uniform(0.008, 0.02), radius_m=1.9)


def _compose_vehicles(cv: Canvas) -> None:
    """Farmland crossed by roads with traffic, car parks and buildings."""
    fields(cv)
    blocks = cv.h * cv.w / 512**2
    roads = [lay_road(cv, cv.rng.uniform(7, 10)) for _ in range(1 + cv.rng.poisson(blocks))]
    for _ in range(1 + cv.rng.poisson(2.0 * blocks)):
        car_park(cv, cv.point(), cv.rng.uniform(0.4, 0.9))
    for _ in range(cv.rng.poisson(6.0 * blocks)):
        building(cv)
    for road in roads:
        traffic(cv, road, cv.rng.uniform(0.3, 0.8))


def _compose_mixed(cv: Canvas) -> None:
    """Blocks of about 128 m, each one theme: water, apron, tank farm, car parks or forest."""
    fields(cv)
    rng, block = cv.rng, 256
    roads = [lay_road(cv, rng.uniform(8, 12)) for _ in range(1 + rng.poisson(cv.h * cv.w / 768**2))]
    for by in range(0, cv.h, block):
        for bx in range(0, cv.w, block):
            x1, y1 = min(bx + block, cv.w), min(by + block, cv.h)
            region = (float(bx), float(by), float(x1), float(y1))
            # Lakes, aprons and tank farms stay clear of the roads; car parks and trees do not.
            allowed = THEMES[3:] if cv.paved[by:y1, bx:x1].any() else THEMES
            allowed[rng.integers(len(allowed))](cv, region)
    for road in roads:
        traffic(cv, road, rng.uniform(0.3, 0.7))


_COMPOSERS: dict[str, Callable[[Canvas], None]] = {
    "trees": _compose_trees,
    "vehicles": _compose_vehicles,
    "mixed": _compose_mixed,
}
