"""The ``synthetic`` format: scenes drawn in memory by :mod:`rsdet.synthetic`, no files.

Spec: ``synthetic:?n=8&size=256&seed=0&kind=mixed&gsd=0.5&nodata=0`` (no ``PATH``; every
option may be left out, see :class:`rsdet.synthetic.SyntheticSpec` for the defaults):

* ``n``: number of scenes; ``size``: scene edge in pixels (square scenes).
* ``seed``: scene ``i`` is drawn from seed ``seed * 100003 + i`` (sets never overlap).
* ``kind``: ``trees`` (class ``tree``, horizontal boxes), ``vehicles`` (``vehicle``) or
  ``mixed`` (``airplane``, ``ship``, ``storage-tank``, ``vehicle``, ``tree``); the last two
  have oriented boxes.
* ``gsd``: metres per pixel (default: the kind's); ``nodata``: width of a 0-valued border.

The samples are exactly :func:`rsdet.synthetic.make_samples` of that spec, in seed order
(not sorted by ``image_id``), with their pixels in ``Sample.image``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rsdet.config import ConfigError
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.errors import SpecError
from rsdet.datasets.spec import DatasetSpec

__all__ = ["SYNTHETIC_OPTIONS", "read_synthetic"]

SYNTHETIC_OPTIONS = ("n", "size", "seed", "kind", "gsd", "nodata")


def read_synthetic(options: Mapping[str, str]) -> Dataset:
    """Draw the synthetic dataset the spec options describe.

    Args:
        options: ``key -> value`` strings among :data:`SYNTHETIC_OPTIONS`.

    Returns:
        A labelled dataset of format ``synthetic``, ``root`` ``Path()`` (it has no folder).

    Raises:
        SpecError: a value of the wrong type or out of range (names the spec and the key).
    """
    # Imported here: the generator is only needed when synthetic data is asked for.
    from rsdet.synthetic.kinds import CLASSES
    from rsdet.synthetic.spec import make_samples, spec_from_options

    spec_text = str(DatasetSpec("synthetic", None, dict(options)))
    try:
        spec = spec_from_options(options)
        samples = make_samples(spec)
    except ConfigError as err:
        raise SpecError(f"dataset {spec_text!r}: {err}") from None
    return Dataset(
        format="synthetic",
        version="",
        classes=CLASSES[spec.kind],
        box_type="hbox" if spec.kind == "trees" else "rbox",
        root=Path(),
        samples=samples,
    )
