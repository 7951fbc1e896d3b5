"""From a dataset spec to checked training samples.

Every spec goes through :func:`rsdet.datasets.load_dataset`, generated data included
(``synthetic:?n=..&size=..&seed=..&kind=..``, drawn in memory). The checks here are the
ones training needs on top of the readers' own: a dataset with no images, no labels at all
or no object anywhere is an error (training never silently runs on nothing); objects
entirely outside their image or of zero size are dropped with a warning naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rsdet.errors import InputError
from rsdet.structures import Sample

__all__ = ["TrainData", "load_data"]

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainData:
    """Checked samples of one dataset.

    Attributes:
        spec: the dataset spec it came from.
        classes: class names; sample labels index into them.
        box_type: the ground-truth geometry of the format (``hbox`` or ``rbox``).
        samples: the images, with unusable objects removed.
        version: the format version (DOTA ``1.0`` / ``1.5`` / ``2.0``; else ``""``).
    """

    spec: str
    classes: tuple[str, ...]
    box_type: str
    samples: list[Sample]
    version: str = ""

    @property
    def num_objects(self) -> int:
        """Objects over all samples."""
        return sum(len(s) for s in self.samples)


def load_data(spec: str, warn: Log) -> TrainData:
    """Load and check a dataset for training or validation.

    Args:
        spec: ``FORMAT:PATH[?k=v]`` or ``synthetic:?k=v...`` (see ``load_dataset``).
        warn: receives one-line warnings (dropped objects, images without objects).

    Raises:
        InputError: no images, no label files, labels outside the class list, or not a
            single usable object; the message names the dataset or the file.
    """
    from rsdet.datasets import load_dataset

    ds = load_dataset(spec)
    if not ds.labelled:
        raise InputError(f"{spec}: has no label files, so there is nothing to learn from")
    samples, classes, box_type, version = list(ds.samples), ds.classes, ds.box_type, ds.version
    if not samples:
        raise InputError(f"{spec}: no images found")
    samples = [_usable(s, len(classes), warn) for s in samples]
    data = TrainData(spec, tuple(classes), box_type, samples, version)
    empty = sum(1 for s in samples if len(s) == 0)
    if data.num_objects == 0:
        raise InputError(f"{spec}: none of its {len(samples)} images has a usable object")
    if empty:
        warn(f"{spec}: {empty} of {len(samples)} images have no objects (background only)")
    return data


def _usable(sample: Sample, num_classes: int, warn: Log) -> Sample:
    """``sample`` without objects outside the image or of zero size (warning once per file)."""
    where = sample.image_path or sample.image_id
    bad_label = (sample.labels < 0) | (sample.labels >= num_classes)
    if bad_label.any():
        label = int(sample.labels[bad_label][0])
        raise InputError(f"{where}: label {label} is outside the {num_classes} classes")
    lo, hi = sample.polygons.min(axis=1), sample.polygons.max(axis=1)
    outside = (
        (hi[:, 0] <= 0) | (hi[:, 1] <= 0) | (lo[:, 0] >= sample.width) | (lo[:, 1] >= sample.height)
    )
    flat = ((hi - lo) <= 0).any(axis=1)
    drop = outside | flat
    if drop.any():
        warn(
            f"{where}: {int(outside.sum())} objects outside the {sample.width}x{sample.height} "
            f"image and {int((flat & ~outside).sum())} of zero size are ignored"
        )
        return sample.subset(np.flatnonzero(~drop))
    return sample
