"""``Dataset``: what :func:`~rsdet.datasets.load_dataset` returns for every format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rsdet.structures import Sample

__all__ = ["BoxType", "Dataset"]

BoxType = Literal["hbox", "rbox"]


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: its samples plus what is needed to interpret their labels.

    Attributes:
        format: format name as in the spec (``dota``, ``dota1.5``, ``dota2``, ``aitod``,
            ``dior``, ``dior-r``, ``voc``, ``geo``, ``synthetic``).
        version: format version (``"1.0"``, ``"1.5"``, ``"2.0"`` for DOTA; ``"1"``/``"2"``
            for AI-TOD when the json name tells; ``""`` otherwise).
        classes: class names; ``Sample.labels`` index into this tuple.
        box_type: ``"hbox"`` (AI-TOD, DIOR, VOC: axis-aligned ground truth) or ``"rbox"``
            (DOTA, DIOR-R, geo: oriented ground truth; synthetic: by kind).
        root: dataset root folder (the folder holding ``annotations/`` for AI-TOD;
            ``Path()`` for synthetic data, which has none).
        samples: one :class:`Sample` per image or scene, sorted by ``image_id`` (synthetic
            scenes in seed order).
        labelled: False when the dataset has no label files at all (e.g. the DOTA test
            split); every sample then has zero objects, which must not be read as
            "nothing to find" by training or evaluation.
        spec: the spec string it was loaded from, normalised.
        meta: format-wide extras (AI-TOD: ``category_ids``, the COCO ids of ``classes``;
            DIOR / VOC: ``split``; geo: ``labels``, the labels file in single-file mode).
    """

    format: str
    version: str
    classes: tuple[str, ...]
    box_type: BoxType
    root: Path
    samples: list[Sample]
    labelled: bool = True
    spec: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_objects(self) -> int:
        """Total number of annotated objects over all samples."""
        return sum(len(s) for s in self.samples)
