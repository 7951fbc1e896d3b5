"""Synthetic remote-sensing scenes with tiny objects and exact ground truth.

A scene is drawn from one seed (a numpy ``Generator``; OpenCV rasterisation is deterministic),
so ``make_scene(seed=3)`` is the same image and the same boxes on every machine. Objects are
sized in metres and drawn at the scene's ground sampling distance (GSD), so the default GSD of
each kind gives the pixel sizes of its real-world counterpart:

* ``trees`` (10 cm, like the NEON aerial RGB the default model was trained on): conifer crowns
  20-70 px across, clumped on grass / soil / understory, long shadows to one side, fallen logs.
* ``vehicles`` (30 cm): cars 14-17 px long in lanes on roads and in car-park rows, with
  buildings as unlabelled distractors.
* ``mixed`` (50 cm, AI-TOD-like): airplanes on an apron, ships on water, storage tanks in
  farms, vehicles on roads and car parks and tree clumps, objects mostly 6-40 px.

Ground truth is a :class:`~rsdet.datasets.sample.Sample`: the oriented rectangle of every
vehicle, ship and airplane (its long side along the heading), and the axis-aligned box of every
round object (tree crown, tank). Every box encloses exactly the object's drawn footprint
(shadows excluded). :func:`write_geotiff` stores a scene in UTM (EPSG:32612, near Yellowstone by
default) with its GSD as pixel size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl

import cv2
import numpy as np

from rsdet.config import ConfigError, from_dict
from rsdet.datasets.sample import Sample
from rsdet.io.atomic import atomic_output

__all__ = [
    "CLASSES",
    "DEFAULT_GSD",
    "DEMO_CRS",
    "DEMO_ORIGIN",
    "KINDS",
    "SyntheticSpec",
    "make_samples",
    "make_scene",
    "parse_synthetic_spec",
    "write_geotiff",
]

Kind = Literal["trees", "vehicles", "mixed"]
KINDS: tuple[str, ...] = ("trees", "vehicles", "mixed")
CLASSES: dict[str, tuple[str, ...]] = {
    "trees": ("tree",),
    "vehicles": ("vehicle",),
    "mixed": ("airplane", "ship", "storage-tank", "vehicle", "tree"),
}
DEFAULT_GSD: dict[str, float] = {"trees": 0.1, "vehicles": 0.3, "mixed": 0.5}
DEMO_CRS = "EPSG:32612"  # UTM zone 12N
DEMO_ORIGIN = (528000.0, 4979000.0)  # upper-left corner: inside NEON's YELL 528000_4978000 tile

_SS = 4  # supersampling factor of the polygon rasteriser (anti-aliased edges)
_Rgb = tuple[float, float, float]


@dataclass(frozen=True)
class SyntheticSpec:
    """A synthetic dataset, as written in a data spec ``synthetic:?n=64&size=512&seed=0``.

    Attributes:
        n: number of scenes.
        size: scene edge, pixels (scenes are square).
        seed: scene ``i`` is drawn from seed ``seed * 100003 + i``, so sets never overlap.
        kind: ``trees``, ``vehicles`` or ``mixed`` (see the module docstring).
        gsd: metres per pixel; None uses the kind's default (:data:`DEFAULT_GSD`).
        nodata: width in pixels of an empty (value 0) border, like the edge of a mosaic.
    """

    n: int = 16
    size: int = 512
    seed: int = 0
    kind: Kind = "mixed"
    gsd: float | None = None
    nodata: int = 0


def parse_synthetic_spec(text: str) -> SyntheticSpec:
    """Parse ``synthetic:?n=8&size=256&kind=trees`` (any subset of the keys, any order).

    Raises:
        ConfigError: unknown key or a value of the wrong type (the message names the spec).
    """
    query = text.removeprefix("synthetic:").lstrip("?")
    raw: dict[str, object] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        raw[key] = value if key == "kind" else _number(value)
    try:
        return from_dict(SyntheticSpec, raw)
    except ConfigError as err:
        raise ConfigError(f"{text}: {err}") from None


def _number(value: str) -> object:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def make_samples(spec: SyntheticSpec) -> list[Sample]:
    """The ``spec.n`` scenes of a synthetic dataset, images held in memory."""
    return [
        make_scene(spec.seed * 100003 + i, spec.size, spec.kind, spec.gsd, spec.nodata)
        for i in range(spec.n)
    ]


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
    cv = _Canvas(height, width, gsd, np.random.default_rng(seed), nodata, masks, kind)
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


def write_geotiff(
    sample: Sample,
    path: str | Path,
    gsd: float | None = None,
    origin: tuple[float, float] = DEMO_ORIGIN,
    crs: str = DEMO_CRS,
) -> None:
    """Write ``sample.image`` as a tiled, compressed RGB GeoTIFF, atomically.

    Args:
        sample: a scene from :func:`make_scene` (its ``meta["gsd"]`` is the default pixel size).
        path: output file; written to a temporary file in the same folder, then renamed.
        gsd: pixel size in CRS units (metres); None uses the scene's GSD.
        origin: CRS coordinates ``(x, y)`` of the upper-left corner of the upper-left pixel.
        crs: any CRS rasterio understands (default UTM zone 12N).
    """
    import rasterio
    from rasterio.transform import Affine

    if sample.image is None:
        raise ValueError(f"{sample.image_id}: no pixels in memory")
    gsd = float(sample.meta.get("gsd", 1.0) if gsd is None else gsd)
    path = Path(path)
    profile = {
        "driver": "GTiff",
        "height": sample.height,
        "width": sample.width,
        "count": 3,
        "dtype": "uint8",
        "crs": crs,
        "transform": Affine(gsd, 0.0, origin[0], 0.0, -gsd, origin[1]),
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "photometric": "RGB",
        "nodata": sample.meta.get("nodata"),
    }
    with atomic_output(path) as tmp:  # GDAL creates the file: the user's umask applies
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(np.moveaxis(sample.image, -1, 0))


# --- the canvas: painting, occupancy and ground truth -------------------------------------

_Region = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


class _Canvas:
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

    def point(self, region: _Region | None = None) -> np.ndarray:
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
        rgb: _Rgb | np.ndarray,
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

    def darken(self, polys: list[np.ndarray], factor: _Rgb, soft: float = 0.0) -> None:
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


# --- geometry helpers ----------------------------------------------------------------------


def _frame(local: np.ndarray, cx: float, cy: float, theta: float) -> np.ndarray:
    """(K, 2) points in an object frame (x along the heading) -> image pixels."""
    c, s = math.cos(theta), math.sin(theta)
    out: np.ndarray = np.asarray(local, np.float64) @ np.array([[c, s], [-s, c]]) + (cx, cy)
    return out


_UNIT = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])


def _rect(cx: float, cy: float, length: float, width: float, theta: float) -> np.ndarray:
    """(4, 2) corners of a rotated rectangle, in the RBoxes corner order."""
    return _frame(_UNIT * (length, width), cx, cy, theta)


def _square(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """(4, 2) corners of an axis-aligned box (TL, TR, BR, BL)."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _circle(cx: float, cy: float, r: float) -> np.ndarray:
    """(K, 2) outline of a circle."""
    t = np.linspace(0.0, 2 * math.pi, max(16, int(2 * math.pi * r)), endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def _blob(cx: float, cy: float, r: float, rng: np.random.Generator, rough: float) -> np.ndarray:
    """(K, 2) irregular round outline: low harmonics shape it, ``rough`` frays its edge."""
    k = max(24, int(2 * math.pi * r / 1.5))
    t = np.linspace(0.0, 2 * math.pi, k, endpoint=False)
    rad = np.ones(k)
    for order in (2, 3, 5):
        rad += rng.uniform(0.0, 0.07) * np.cos(order * t + rng.uniform(0, 2 * math.pi))
    rad *= 1 + rough * rng.uniform(-1.0, 1.0, k)
    return np.stack([cx + r * rad * np.cos(t), cy + r * rad * np.sin(t)], axis=1)


def _noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 3) -> np.ndarray:
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


def _mix(a: _Rgb, b: _Rgb, t: np.ndarray) -> np.ndarray:
    """Per-pixel blend of two colours: (h, w) weights in [0, 1] -> (h, w, 3)."""
    t = np.clip(t, 0, 1)[..., None]
    out: np.ndarray = np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t
    return out


# --- ground ---------------------------------------------------------------------------------


def _grass(cv: _Canvas) -> None:
    """Meadow: grass, dry patches, bare soil, sagebrush speckle (the NEON Yellowstone look)."""
    h, w, rng = cv.h, cv.w, cv.rng
    dry = _noise(rng, h, w, cv.m(30), 4) + 0.5 + 0.5 * _noise(rng, h, w, cv.m(1.5), 2)
    ground = _mix((122, 146, 88), (176, 178, 136), dry)
    soil = _noise(rng, h, w, cv.m(12), 3)
    bare = _mix((150, 140, 108), (190, 180, 146), soil + 0.3 * _noise(rng, h, w, 2.0, 1))
    ground = _mix((0, 0, 0), (1, 1, 1), (soil - 0.42) * 8) * (bare - ground) + ground
    sage = _noise(rng, h, w, cv.m(0.35), 1)  # knee-high grey shrubs, a few pixels across
    ground = _mix((0, 0, 0), (1, 1, 1), (sage - 0.55) * 4) * ((170, 176, 152) - ground) + ground
    tufts = _noise(rng, h, w, cv.m(0.5), 2) + 0.6 * rng.normal(0, 1, (h, w)).astype(np.float32)
    cv.img[:] = ground * (1 + 0.14 * tufts)[..., None]


def _fields(cv: _Canvas) -> None:
    """Farmland and rough ground: large patches of crop, grass and soil."""
    h, w, rng = cv.h, cv.w, cv.rng
    palette = [(110, 135, 80), (150, 155, 105), (170, 150, 115), (95, 120, 70), (185, 175, 140)]
    base = _mix((120, 140, 90), (165, 160, 120), _noise(rng, h, w, cv.m(60), 4) + 0.5)
    cv.img[:] = base * (1 + 0.06 * _noise(rng, h, w, 3.0, 2))[..., None]
    for _ in range(max(2, int(h * w / 300**2))):
        c = cv.point()
        field = _rect(c[0], c[1], rng.uniform(60, 260), rng.uniform(50, 200), rng.uniform(0, 3.2))
        cv.paint(field, palette[rng.integers(len(palette))], opacity=rng.uniform(0.5, 0.9))


def _pave(cv: _Canvas, poly: np.ndarray, rgb: _Rgb | np.ndarray) -> np.ndarray:
    """Paint a surface objects may stand on (asphalt, concrete, water); returns its map."""
    cv.paint(poly, rgb)
    on = cv.surface(poly)
    cv.paved |= on
    return on


# --- objects (each returns True when it found room) -----------------------------------------


def _tree(
    cv: _Canvas, cx: float, cy: float, r: float
) -> tuple[np.ndarray, list[np.ndarray], int] | None:
    """Reserve a conifer crown of radius ``r`` px: (outline, shadow parts, ident), or None."""
    rng = cv.rng
    outline = _blob(cx, cy, r, rng, 0.16)
    # Seen off-nadir, a tall crown is drawn out along the lean direction.
    stretch = rng.uniform(0.0, 0.35) * np.outer(cv.lean, cv.lean)
    outline = (outline - (cx, cy)) @ (np.eye(2) + stretch) + (cx, cy)
    core = (outline - (cx, cy)) * 0.75 + (cx, cy)  # neighbouring crowns may touch and overlap
    if not cv.fits(core, ground=True):
        return None
    ident = cv.claim(core, _square(*outline.min(0), *outline.max(0)), "tree")
    # Shadow: the crown swept away from the sun, narrowing like a conifer seen from the side.
    length = r * rng.uniform(1.8, 3.4)
    shadow = [
        _blob(cx, cy, r * (1 - 0.7 * t), rng, 0.2) + cv.shadow * length * t
        for t in np.linspace(0.0, 1.0, 6)
    ]
    return outline, shadow, ident or 0


def _crown(cv: _Canvas, outline: np.ndarray, ident: int) -> None:
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
    clumps = _noise(rng, y1 - y0, x1 - x0, max(r / 5, 1.5), 2)
    # Needle texture smeared along the lean, as orthophotos smear tall trees.
    streak = _streaks(rng.normal(0, 1, clumps.shape).astype(np.float32), cv.lean, r * 0.5)
    shade = lit * (0.8 + 0.2 * spokes * np.clip(d, 0, 1)) + 0.45 * clumps + 0.5 * streak
    shade -= 0.3 * np.clip(d - 0.7, 0, 1) / 0.3  # gaps between the outer branches
    tone = rng.uniform(-15, 15)
    rgb = _mix((30, 44, 32), (188 + tone, 192 + tone, 116 + tone / 2), shade)
    cv.paint(outline, rgb, ident=ident)


def _streaks(noise: np.ndarray, direction: np.ndarray, length: float) -> np.ndarray:
    """``noise`` averaged along a line of ``length`` pixels in ``direction`` (motion blur)."""
    k = max(3, int(length) | 1)
    kernel = np.zeros((k, k), np.float32)
    half = (k - 1) / 2
    for t in np.linspace(-half, half, 2 * k):
        kernel[round(half + t * direction[1]), round(half + t * direction[0])] = 1.0
    out: np.ndarray = cv2.filter2D(noise, -1, kernel / kernel.sum()) * math.sqrt(k / 2)
    return out


def _forest(cv: _Canvas, region: _Region | None, density: float, radius_m: float) -> None:
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


def _litter(cv: _Canvas, logs: int, shrubs: int) -> None:
    """Unlabelled distractors: fallen pale trunks and small dark understory bushes."""
    for _ in range(logs):
        p, theta = cv.point(), cv.rng.uniform(0, math.pi)
        width = cv.m(cv.rng.uniform(0.15, 0.3))
        log = _rect(p[0], p[1], cv.m(cv.rng.uniform(4, 18)), width, theta)
        cv.darken([log + cv.shadow * width], (0.55, 0.6, 0.7))
        cv.paint(log, (205, 203, 192), opacity=0.9)
    for _ in range(shrubs):  # sagebrush and juniper: grey-green, textured, irregular
        p = cv.point()
        bush = _blob(p[0], p[1], cv.m(cv.rng.lognormal(-0.9, 0.4)), cv.rng, 0.3)
        win = cv.window(bush)
        if win is not None:
            tex = _noise(cv.rng, win[3] - win[1], win[2] - win[0], 2.0, 1) + cv.rng.uniform(
                -0.3, 0.5
            )
            cv.paint(bush, _mix((62, 86, 52), (128, 140, 104), tex + 0.3), 0.85)


_CAR_COLOURS = [(228, 228, 224), (175, 176, 180), (110, 110, 115), (35, 36, 40), (150, 38, 34),
                (40, 62, 120), (60, 80, 60)]  # fmt: skip
_CAR_FREQ = [0.3, 0.2, 0.15, 0.2, 0.06, 0.06, 0.03]


def _car(cv: _Canvas, p: np.ndarray, theta: float, on: np.ndarray | None) -> bool:
    """A car (4-5 m) or, now and then, a van or small truck, heading ``theta``."""
    rng = cv.rng
    length, width = cv.m(rng.uniform(4.0, 5.2)), cv.m(rng.uniform(1.7, 2.0))
    if rng.random() < 0.08:
        length, width = cv.m(rng.uniform(6.0, 9.0)), cv.m(rng.uniform(2.2, 2.5))
    body = _rect(p[0], p[1], length, width, theta)
    if not cv.fits(body, on):
        return False
    ident = cv.claim(body, body, "vehicle")
    cv.darken([body + cv.shadow * width * 0.35], (0.45, 0.47, 0.55))
    cv.paint(body, _CAR_COLOURS[rng.choice(len(_CAR_COLOURS), p=_CAR_FREQ)], ident=ident)
    glass = _frame(np.array([[0.18 * length, 0.0]]), p[0], p[1], theta)[0]
    cv.paint(
        _rect(glass[0], glass[1], 0.18 * length, 0.8 * width, theta), (30, 34, 40), 0.75, ident
    )
    return True


def _road(cv: _Canvas, width_m: float) -> tuple[np.ndarray, float, float]:
    """A straight two-lane road across the scene: (a point on it, heading, width in px)."""
    p, theta = cv.point(), cv.rng.uniform(0, math.pi)
    length, width = 3.0 * max(cv.h, cv.w), cv.m(width_m)
    _pave(cv, _rect(p[0], p[1], length, width, theta), (96, 97, 100))
    along = np.array([math.cos(theta), math.sin(theta)])
    for t in np.arange(-length / 2, length / 2, cv.m(9)):
        q = p + along * t
        cv.paint(_rect(q[0], q[1], cv.m(3), cv.m(0.15), theta), (215, 200, 120), 0.8)
    return p, theta, width


def _traffic(cv: _Canvas, road: tuple[np.ndarray, float, float], rate: float) -> None:
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
                _car(cv, q, heading + cv.rng.normal(0, 0.03), cv.paved)
            t += cv.m(cv.rng.uniform(6.0, 9.0))


def _car_park(cv: _Canvas, c: np.ndarray, fill: float) -> bool:
    """A rotated car park: rows of stalls with cars parked across the rows."""
    rng = cv.rng
    rows, stalls, theta = int(rng.integers(1, 4)), int(rng.integers(4, 12)), rng.uniform(0, math.pi)
    length, depth = stalls * cv.m(2.6), rows * cv.m(11.0)
    lot = _rect(c[0], c[1], length + cv.m(2), depth + cv.m(2), theta)
    if not cv.fits(lot, ground=True):
        return False
    _pave(cv, lot, (118, 118, 120))
    for i in range(rows):
        for half in (-1, 1):
            off = -depth / 2 + (i + 0.5) * cv.m(11.0) + half * cv.m(2.9)
            for j in range(stalls):
                along = -length / 2 + (j + 0.5) * cv.m(2.6)
                q, mark = _frame(
                    np.array([[along, off], [along + cv.m(1.3), off]]), c[0], c[1], theta
                )
                cv.paint(
                    _rect(mark[0], mark[1], cv.m(0.12), cv.m(5.0), theta + math.pi / 2),
                    (220, 220, 215),
                )
                if rng.random() < fill:
                    _car(cv, q, theta + math.pi / 2 * half + rng.normal(0, 0.04), cv.paved)
    return True


def _building(cv: _Canvas, region: _Region | None = None) -> bool:
    """An unlabelled roof and its shadow (a large distractor), off roads and water."""
    p, rng = cv.point(region), cv.rng
    roof = _rect(
        p[0], p[1], cv.m(rng.uniform(8, 30)), cv.m(rng.uniform(6, 18)), rng.uniform(0, 3.2)
    )
    if not cv.fits(roof, ground=True):
        return False
    cv.claim(roof, None, None)
    cv.darken([roof + cv.shadow * cv.m(rng.uniform(2, 5))], (0.4, 0.43, 0.52))
    colours = [(150, 150, 150), (170, 95, 75), (95, 95, 100), (200, 195, 185)]
    cv.paint(roof, colours[rng.integers(len(colours))])
    return True


def _ship(cv: _Canvas, p: np.ndarray, on: np.ndarray) -> bool:
    """A boat: pointed hull, deck house, sometimes a pale wake astern; box = length x beam."""
    rng = cv.rng
    length = cv.m(rng.uniform(8, 30))
    width, theta = length * rng.uniform(0.22, 0.32), rng.uniform(-math.pi, math.pi)
    box = _rect(p[0], p[1], length, width, theta)
    if not cv.fits(box, on):
        return False
    ident = cv.claim(box, box, "ship")
    if rng.random() < 0.5:
        wake = np.array([[-0.5, -0.4], [-0.5, 0.4], [-1.4, 0.8], [-1.4, -0.8]])
        cv.paint(_frame(wake * (length, width), p[0], p[1], theta), (120, 140, 145), opacity=0.35)
    hull = np.array([[-0.5, -0.5], [0.25, -0.5], [0.5, 0.0], [0.25, 0.5], [-0.5, 0.5]])
    colours = [(225, 225, 220), (170, 60, 50), (60, 65, 75), (200, 200, 190)]
    cv.paint(
        _frame(hull * (length, width), p[0], p[1], theta), colours[rng.integers(4)], ident=ident
    )
    house = _frame(np.array([[-0.3 * length, 0.0]]), p[0], p[1], theta)[0]
    cv.paint(
        _rect(house[0], house[1], 0.25 * length, 0.6 * width, theta), (240, 240, 235), ident=ident
    )
    return True


def _plane(cv: _Canvas, p: np.ndarray, on: np.ndarray) -> bool:
    """An airplane: fuselage, swept wings, tailplane; box = length x wingspan."""
    rng = cv.rng
    length = cv.m(rng.uniform(10, 32))
    span, theta = length * rng.uniform(0.85, 1.15), rng.uniform(-math.pi, math.pi)
    box = _rect(p[0], p[1], length, span, theta)
    if not cv.fits(box, on):
        return False
    ident = cv.claim(box, box, "airplane")
    fw = 0.055 * length / span  # fuselage half-width, in units of the span
    parts = [  # in units of (length, span), nose towards +x
        [[0.5, 0.0], [0.42, -fw], [-0.5, -fw / 2], [-0.5, fw / 2], [0.42, fw]],
        [[0.12, -fw], [-0.12, -0.5], [-0.2, -0.5], [-0.08, -fw],
         [-0.08, fw], [-0.2, 0.5], [-0.12, 0.5], [0.12, fw]],
        [[-0.38, -fw], [-0.47, -0.18], [-0.5, -0.18], [-0.5, 0.18], [-0.47, 0.18], [-0.38, fw]],
    ]  # fmt: skip
    outlines = [_frame(np.array(part) * (length, span), p[0], p[1], theta) for part in parts]
    lift = cv.shadow * cv.m(rng.uniform(1.5, 3.0))
    cv.darken([o + lift for o in outlines], (0.5, 0.52, 0.6))
    grey = rng.uniform(215, 240)
    for outline in outlines:
        cv.paint(outline, (grey, grey, grey), ident=ident)
    return True


def _tank(cv: _Canvas, p: np.ndarray, r: float, on: np.ndarray) -> bool:
    """A round storage tank: pale roof, darker rim, shadow; box = the axis-aligned square."""
    disc = _circle(p[0], p[1], r)
    if not cv.fits(disc, on):
        return False
    ident = cv.claim(disc, _square(p[0] - r, p[1] - r, p[0] + r, p[1] + r), "storage-tank")
    cv.darken([disc + cv.shadow * r * 0.45], (0.35, 0.38, 0.48))
    tone = cv.rng.uniform(185, 235)
    cv.paint(disc, (tone * 0.75, tone * 0.75, tone * 0.73), ident=ident)
    cv.paint(_circle(p[0], p[1], r * 0.85), (tone, tone, tone * 0.97), ident=ident)
    return True


# --- scene kinds ---------------------------------------------------------------------------


def _compose_trees(cv: _Canvas) -> None:
    _grass(cv)
    area_ha = cv.h * cv.w / cv.ppm**2 / 1e4
    _litter(cv, logs=int(area_ha * cv.rng.uniform(10, 60)), shrubs=int(area_ha * 250))
    _forest(cv, None, density=cv.rng.uniform(0.008, 0.02), radius_m=1.9)


def _compose_vehicles(cv: _Canvas) -> None:
    _fields(cv)
    blocks = cv.h * cv.w / 512**2
    roads = [_road(cv, cv.rng.uniform(7, 10)) for _ in range(1 + cv.rng.poisson(blocks))]
    for _ in range(1 + cv.rng.poisson(2.0 * blocks)):
        _car_park(cv, cv.point(), cv.rng.uniform(0.4, 0.9))
    for _ in range(cv.rng.poisson(6.0 * blocks)):
        _building(cv)
    for road in roads:
        _traffic(cv, road, cv.rng.uniform(0.3, 0.8))


def _compose_mixed(cv: _Canvas) -> None:
    """Blocks of about 128 m, each one theme: water, apron, tank farm, car parks or forest."""
    _fields(cv)
    rng, block = cv.rng, 256
    roads = [_road(cv, rng.uniform(8, 12)) for _ in range(1 + rng.poisson(cv.h * cv.w / 768**2))]
    themes = [_theme_water, _theme_apron, _theme_tanks, _theme_parking, _theme_forest]
    for by in range(0, cv.h, block):
        for bx in range(0, cv.w, block):
            x1, y1 = min(bx + block, cv.w), min(by + block, cv.h)
            region = (float(bx), float(by), float(x1), float(y1))
            # Lakes, aprons and tank farms stay clear of the roads; car parks and trees do not.
            allowed = themes[3:] if cv.paved[by:y1, bx:x1].any() else themes
            allowed[rng.integers(len(allowed))](cv, region)
    for road in roads:
        _traffic(cv, road, rng.uniform(0.3, 0.7))


def _attempts(count: int, place: Callable[[], bool], tries: int = 8) -> None:
    """Try to place ``count`` objects, giving each ``tries`` random positions."""
    for _ in range(count):
        for _ in range(tries):
            if place():
                break


def _inner(region: _Region, frac: float) -> np.ndarray:
    """(4, 2) axis-aligned rectangle: ``region`` shrunk to ``frac`` of its size."""
    x0, y0, x1, y1 = region
    dx, dy = (x1 - x0) * (1 - frac) / 2, (y1 - y0) * (1 - frac) / 2
    return _square(x0 + dx, y0 + dy, x1 - dx, y1 - dy)


def _theme_water(cv: _Canvas, region: _Region) -> None:
    x0, y0, x1, y1 = region
    r = min(x1 - x0, y1 - y0) / 2 * cv.rng.uniform(0.6, 0.95)
    lake = _blob((x0 + x1) / 2, (y0 + y1) / 2, r, cv.rng, 0.0)
    win = cv.window(lake)
    if win is None:
        return
    ripple = _noise(cv.rng, win[3] - win[1], win[2] - win[0], 12.0, 2)
    on = _pave(cv, lake, _mix((38, 62, 78), (52, 80, 92), ripple + 0.5))
    _attempts(int(cv.rng.integers(2, 10)), lambda: _ship(cv, cv.point(region), on))


def _theme_apron(cv: _Canvas, region: _Region) -> None:
    on = _pave(cv, _inner(region, cv.rng.uniform(0.7, 0.95)), (176, 174, 168))
    _attempts(int(cv.rng.integers(1, 5)), lambda: _plane(cv, cv.point(region), on))
    _attempts(
        int(cv.rng.integers(0, 6)), lambda: _car(cv, cv.point(region), cv.rng.uniform(0, 6.3), on)
    )


def _theme_tanks(cv: _Canvas, region: _Region) -> None:
    pad = _inner(region, cv.rng.uniform(0.6, 0.9))
    on = _pave(cv, pad, (160, 158, 150))
    r = cv.m(cv.rng.uniform(3.0, 10.0))
    step = r * cv.rng.uniform(2.3, 3.0)
    (px0, py0), (px1, py1) = pad[0], pad[2]
    for y in np.arange(py0 + step / 2, py1 - r, step):
        for x in np.arange(px0 + step / 2, px1 - r, step):
            if cv.rng.random() < 0.8:
                _tank(cv, np.array([x, y]), r * cv.rng.uniform(0.9, 1.1), on)


def _theme_parking(cv: _Canvas, region: _Region) -> None:
    _attempts(
        int(cv.rng.integers(1, 3)),
        lambda: _car_park(cv, cv.point(region), cv.rng.uniform(0.4, 0.9)),
    )
    _attempts(int(cv.rng.integers(1, 4)), lambda: _building(cv, region))


def _theme_forest(cv: _Canvas, region: _Region) -> None:
    _forest(cv, region, density=cv.rng.uniform(0.002, 0.008), radius_m=2.5)


_COMPOSERS: dict[str, Callable[[_Canvas], None]] = {
    "trees": _compose_trees,
    "vehicles": _compose_vehicles,
    "mixed": _compose_mixed,
}
