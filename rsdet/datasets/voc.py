"""Generic Pascal VOC (``voc:DIR``), e.g. tree crowns labelled as class ``Tree``.

Layout:

* annotation files: ``DIR/Annotations/*.xml``, or ``DIR/*.xml`` when there is no
  ``Annotations`` folder;
* images: ``DIR/JPEGImages/``, or next to the xml files when there is no ``JPEGImages``
  folder; an image is found by the xml's ``<filename>``, else by the xml's stem with any
  image suffix (GeoTIFF tiles work too);
* samples: the ids of ``ImageSets/Main/<split>.txt`` (see
  :mod:`rsdet.datasets.image_sets`), or every xml file;
* classes: ``DIR/classes.txt`` (one name per line, in label order) when present, else the
  sorted unique names found; names are case-sensitive;
* image size: ``<size>`` when it gives a positive width and height, else the image header.

Every xml needs its image. Without split files, every image in the image folder needs its
xml (an image without one stops the reader: it is not read as "no objects").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsdet.datasets.classes import ClassLookup, read_classes_file
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.errors import DatasetError, where
from rsdet.datasets.files import index_images
from rsdet.datasets.image_sets import read_image_set
from rsdet.datasets.pixels import image_size
from rsdet.datasets.voc_xml import VocFile, parse_voc_xml
from rsdet.structures import Sample

__all__ = ["read_voc", "samples_from_voc"]


def _find_image(voc: VocFile, images: dict[str, Path], folder: Path) -> Path:
    if voc.filename and (folder / voc.filename).is_file():
        return folder / voc.filename
    stem = voc.path.stem
    if stem in images:
        return images[stem]
    wanted = voc.filename or f"{stem}.*"
    raise DatasetError(f"{voc.path}: its image {wanted} is not in {folder}")


def samples_from_voc(
    files: list[VocFile], image_paths: list[Path], lookup: ClassLookup
) -> list[Sample]:
    """Samples of parsed annotation files (one image path per file), sorted by image id."""
    samples = []
    for voc, image_path in zip(files, image_paths, strict=True):
        if voc.height is not None and voc.width is not None:
            height, width = voc.height, voc.width
        else:
            height, width = image_size(image_path)
        labels = [lookup.index(o.name, voc.path, o.line) for o in voc.objects]
        samples.append(
            Sample(
                image_id=voc.path.stem,
                height=height,
                width=width,
                polygons=np.asarray([o.polygon for o in voc.objects]).reshape(-1, 4, 2),
                labels=np.asarray(labels, np.int64),
                difficulty=np.asarray([o.difficult for o in voc.objects], np.int8),
                image_path=image_path,
            )
        )
    return sorted(samples, key=lambda s: s.image_id)


def _annotation_files(root: Path, ann_dir: Path, split: str | None) -> tuple[list[Path], str]:
    image_set = read_image_set(root, split)
    if image_set is None:
        return sorted(ann_dir.glob("*.xml")), ""
    paths = []
    for image_id, (txt, line) in zip(image_set.ids, image_set.origins, strict=True):
        path = ann_dir / f"{image_id}.xml"
        if not path.is_file():
            raise DatasetError(f"{where(txt, line)}: annotation {path} not found")
        paths.append(path)
    return paths, image_set.name


def read_voc(root: Path, split: str | None = None) -> Dataset:
    """Load a generic VOC tree (rules in the module docstring)."""
    if not root.is_dir():
        raise DatasetError(f"{root}: folder not found")
    ann_dir = root / "Annotations" if (root / "Annotations").is_dir() else root
    img_dir = root / "JPEGImages" if (root / "JPEGImages").is_dir() else ann_dir
    xml_paths, split_name = _annotation_files(root, ann_dir, split)
    if not xml_paths:
        raise DatasetError(f"{ann_dir}: no .xml annotation files found")
    files = [parse_voc_xml(p) for p in xml_paths]
    images = index_images(img_dir)
    image_paths = [_find_image(f, images, img_dir) for f in files]
    if not split_name:
        used = set(image_paths)
        for path in images.values():
            if path not in used:
                raise DatasetError(f"{path}: no annotation file {ann_dir / (path.stem + '.xml')}")
    classes_txt = root / "classes.txt"
    if classes_txt.is_file():
        classes = read_classes_file(classes_txt)
    else:
        classes = tuple(sorted({o.name for f in files for o in f.objects}))
    return Dataset(
        format="voc",
        version="",
        classes=classes,
        box_type="hbox",
        root=root,
        samples=samples_from_voc(files, image_paths, ClassLookup(classes)),
        meta={"split": split_name},
    )
