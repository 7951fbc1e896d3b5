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

Ground truth is a :class:`~rsdet.structures.Sample`: the oriented rectangle of every
vehicle, ship and airplane (its long side along the heading), and the axis-aligned box of every
round object (tree crown, tank). Every box encloses exactly the object's drawn footprint
(shadows excluded). :func:`write_geotiff` stores a scene in UTM (EPSG:32612, near Yellowstone by
default) with its GSD as pixel size.

Modules: :mod:`~rsdet.synthetic.kinds` (kinds, classes, GSDs), :mod:`~rsdet.synthetic.shapes`
(drawing primitives), :mod:`~rsdet.synthetic.canvas` (painting and ground truth),
:mod:`~rsdet.synthetic.ground`, :mod:`~rsdet.synthetic.trees`,
:mod:`~rsdet.synthetic.vehicles` and :mod:`~rsdet.synthetic.objects` (painters),
:mod:`~rsdet.synthetic.themes` (the blocks of a mixed scene), :mod:`~rsdet.synthetic.scenes`
(:func:`make_scene`), :mod:`~rsdet.synthetic.spec` (``synthetic:?...`` data specs) and
:mod:`~rsdet.synthetic.geotiff` (writing).
"""

from rsdet.synthetic.geotiff import DEMO_CRS, DEMO_ORIGIN, write_geotiff
from rsdet.synthetic.kinds import CLASSES, DEFAULT_GSD, KINDS, Kind
from rsdet.synthetic.scenes import make_scene
from rsdet.synthetic.spec import (
    SyntheticSpec,
    make_samples,
    parse_synthetic_spec,
    spec_from_options,
)

__all__ = [
    "CLASSES",
    "DEFAULT_GSD",
    "DEMO_CRS",
    "DEMO_ORIGIN",
    "KINDS",
    "Kind",
    "SyntheticSpec",
    "make_samples",
    "make_scene",
    "parse_synthetic_spec",
    "spec_from_options",
    "write_geotiff",
]
