"""Writing patches in the format they came from, so ``load_dataset`` reads them back.

Output layouts (``OUT`` is the ``--out`` folder of ``rsdet split``):

==========  ===============================================================================
format      layout
==========  ===============================================================================
dota*       ``images/<patch>.png`` + ``labelTxt/<patch>.txt`` (no header lines, as the devkit)
aitod       ``images/<patch>.png`` + ``annotations/<input json name>`` (one COCO json)
dior        ``JPEGImages/<patch>.png`` + ``Annotations/Horizontal Bounding Boxes/<patch>.xml``
            + ``ImageSets/Main/<split>.txt`` (when the input had a split)
dior-r      as dior, with ``Annotations/Oriented Bounding Boxes/``
voc         ``JPEGImages/<patch>.png`` + ``Annotations/<patch>.xml`` + ``classes.txt``
            (+ ``ImageSets/Main/<split>.txt`` when the input had a split)
geo         ``images/<patch>.tif`` + ``labels.gpkg`` + ``classes.txt`` (see ``geo_tiles``)
==========  ===============================================================================

PNG keeps 8- and 16-bit pixels losslessly (JPEG sources are re-encoded as PNG).
A writer returns :class:`LabelOutput` s instead of writing label files itself, so the
splitter can skip files whose content has not changed.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsdet.datasets.classes import write_classes_file
from rsdet.datasets.coco import coco_document
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.dior import DIOR_ANNOTATION_DIRS
from rsdet.datasets.dota import format_dota_labels
from rsdet.datasets.patches import PatchOrigin
from rsdet.datasets.pixels import encode_png
from rsdet.datasets.voc_xml import format_voc_xml
from rsdet.structures import Sample

__all__ = ["CocoPatchWriter", "DotaPatchWriter", "LabelOutput", "PatchWriter", "VocPatchWriter"]


@dataclass(frozen=True)
class LabelOutput:
    """A label file to write.

    Attributes:
        relpath: path relative to the output folder, ``/``-separated.
        data: the exact bytes, or None for files written by ``write`` (GeoPackage).
        digest: sha256 of the content; compared with the manifest when ``data`` is None.
        write: writes the file at the temporary path it is given.
    """

    relpath: str
    data: bytes | None
    digest: str
    write: Callable[[Path], None]

    @classmethod
    def of_bytes(cls, relpath: str, data: bytes) -> LabelOutput:
        """An output whose content is ``data``."""

        def write(path: Path) -> None:
            path.write_bytes(data)

        return cls(relpath, data, hashlib.sha256(data).hexdigest(), write)


class PatchWriter(ABC):
    """Writes one dataset's patches into ``out``.

    Args:
        out: the output folder.
        dataset: the source dataset (classes, format extras such as COCO category ids).
    """

    image_suffix = ".png"

    def __init__(self, out: Path, dataset: Dataset) -> None:
        self.out = out
        self.dataset = dataset

    @abstractmethod
    def image_relpath(self, name: str) -> str:
        """Where the image of patch ``name`` goes, relative to ``out``."""

    def label_relpaths(self, name: str) -> list[str]:
        """Per-patch label files of patch ``name`` (removed with it when stale)."""
        return []

    def write_image(
        self, path: Path, pixels: np.ndarray, source: Sample, origin: PatchOrigin
    ) -> None:
        """Write a patch image at ``path`` (a temporary path; the caller renames it).

        Args:
            path: where to write.
            pixels: (size, size, C) patch pixels, RGB order, the source dtype.
            source: the source sample (geo writers read its georeferencing).
            origin: where the patch lies in the source.
        """
        path.write_bytes(
            encode_png(pixels, path.with_name(Path(self.image_relpath(origin.name)).name))
        )

    @abstractmethod
    def add(self, name: str, patch: Sample) -> list[LabelOutput]:
        """Register a patch's objects (patch pixels); returns its own label files, if any."""

    def finish(self) -> list[LabelOutput]:
        """Label files covering all patches (COCO json, GeoPackage, split lists...)."""
        return []


class DotaPatchWriter(PatchWriter):
    """``images/`` + ``labelTxt/`` without header lines."""

    def image_relpath(self, name: str) -> str:
        """``images/<name>.png``."""
        return f"images/{name}.png"

    def label_relpaths(self, name: str) -> list[str]:
        """``labelTxt/<name>.txt``."""
        return [f"labelTxt/{name}.txt"]

    def add(self, name: str, patch: Sample) -> list[LabelOutput]:
        """The patch's label file, without header lines."""
        text = format_dota_labels(
            patch.polygons, patch.labels, patch.difficulty, self.dataset.classes
        )
        return [LabelOutput.of_bytes(self.label_relpaths(name)[0], text.encode("utf-8"))]


class CocoPatchWriter(PatchWriter):
    """``images/`` + one COCO json named like the input json, under ``annotations/``."""

    def __init__(self, out: Path, dataset: Dataset) -> None:
        super().__init__(out, dataset)
        self._patches: list[tuple[str, Sample]] = []

    def image_relpath(self, name: str) -> str:
        """``images/<name>.png``."""
        return f"images/{name}.png"

    def add(self, name: str, patch: Sample) -> list[LabelOutput]:
        """Keep the patch for the json written by :meth:`finish`."""
        self._patches.append((name, patch))
        return []

    def finish(self) -> list[LabelOutput]:
        """The COCO json of all patches, sorted by name."""
        patches = sorted(self._patches, key=lambda item: item[0])
        doc = coco_document(
            [p for _, p in patches],
            [f"{n}.png" for n, _ in patches],
            self.dataset.meta["category_ids"],
            self.dataset.classes,
        )
        data = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        return [LabelOutput.of_bytes(f"annotations/{self.dataset.meta['annotations'].name}", data)]


class VocPatchWriter(PatchWriter):
    """VOC-style xml per patch (``voc``, ``dior``, ``dior-r``; layout in the module docstring)."""

    def __init__(self, out: Path, dataset: Dataset) -> None:
        super().__init__(out, dataset)
        self.oriented = dataset.format == "dior-r"
        if dataset.format == "voc":
            self.ann_dir = "Annotations"
        else:
            self.ann_dir = f"Annotations/{DIOR_ANNOTATION_DIRS[self.oriented]}"
        self._names: list[str] = []

    def image_relpath(self, name: str) -> str:
        """``JPEGImages/<name>.png``."""
        return f"JPEGImages/{name}.png"

    def label_relpaths(self, name: str) -> list[str]:
        """The patch's xml in the format's annotation folder."""
        return [f"{self.ann_dir}/{name}.xml"]

    def add(self, name: str, patch: Sample) -> list[LabelOutput]:
        """The patch's xml file."""
        self._names.append(name)
        text = format_voc_xml(
            f"{name}.png",
            (patch.height, patch.width, 3),
            patch.polygons,
            patch.labels,
            patch.difficulty,
            self.dataset.classes,
            oriented=self.oriented,
        )
        return [LabelOutput.of_bytes(self.label_relpaths(name)[0], text.encode("utf-8"))]

    def finish(self) -> list[LabelOutput]:
        """The split list (if the input had a split) and, for voc, ``classes.txt``."""
        outputs = []
        split = self.dataset.meta.get("split")
        if split:
            ids = "".join(f"{n}\n" for n in sorted(self._names)).encode("utf-8")
            outputs.append(LabelOutput.of_bytes(f"ImageSets/Main/{split}.txt", ids))
        if self.dataset.format == "voc":
            outputs.append(
                LabelOutput.of_bytes("classes.txt", write_classes_file(self.dataset.classes))
            )
        return outputs
