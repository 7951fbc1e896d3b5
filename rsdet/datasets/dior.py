"""DIOR (horizontal boxes) and DIOR-R (oriented boxes), which share images and splits.

Layout (as released)::

    ROOT/Annotations/Horizontal Bounding Boxes/<id>.xml   (dior: VOC <bndbox>)
    ROOT/Annotations/Oriented Bounding Boxes/<id>.xml     (dior-r: <robndbox>, 8 corners)
    ROOT/ImageSets/Main/{train,val,test}.txt
    ROOT/JPEGImages-trainval/<id>.jpg   ROOT/JPEGImages-test/<id>.jpg

* Split: ``?split=train|val|test|trainval`` (``trainval`` = train + val); see
  :mod:`rsdet.datasets.image_sets` for the rules when it is left out.
* Images are looked up by id in ``JPEGImages-test/`` for the test split and in
  ``JPEGImages-trainval/`` otherwise (both without split files), then in ``JPEGImages/``
  (the layout ``rsdet split`` writes); any image suffix.
* Class names are matched case-insensitively against the 20 DIOR classes.
"""

from __future__ import annotations

from pathlib import Path

from rsdet.datasets.classes import DIOR_CLASSES, ClassLookup
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.errors import DatasetError, where
from rsdet.datasets.files import index_images
from rsdet.datasets.image_sets import read_image_set
from rsdet.datasets.voc import samples_from_voc
from rsdet.datasets.voc_xml import parse_voc_xml

__all__ = ["DIOR_ANNOTATION_DIRS", "read_dior"]

DIOR_ANNOTATION_DIRS = {False: "Horizontal Bounding Boxes", True: "Oriented Bounding Boxes"}


def _image_index(root: Path, split: str) -> dict[str, Path]:
    own = {"": ["JPEGImages-test", "JPEGImages-trainval"], "test": ["JPEGImages-test"]}
    images: dict[str, Path] = {}
    # Later folders win, so the split's own folder comes before JPEGImages/.
    for name in ["JPEGImages", *own.get(split, ["JPEGImages-trainval"])]:
        if (root / name).is_dir():
            images.update(index_images(root / name))
    return images


def read_dior(root: Path, oriented: bool, split: str | None = None) -> Dataset:
    """Load DIOR (``oriented=False``) or DIOR-R (``oriented=True``); rules above."""
    ann_dir = root / "Annotations" / DIOR_ANNOTATION_DIRS[oriented]
    if not ann_dir.is_dir():
        raise DatasetError(f"{ann_dir}: folder not found (is {root} a DIOR root?)")
    image_set = read_image_set(root, split)
    if image_set is None:
        ids = [p.stem for p in sorted(ann_dir.glob("*.xml"))]
        origins: list[tuple[Path, int | None]] = [(ann_dir / f"{i}.xml", None) for i in ids]
        split_name = ""
    else:
        ids, origins, split_name = list(image_set.ids), list(image_set.origins), image_set.name
    if not ids:
        raise DatasetError(f"{ann_dir}: no annotation files found")
    images = _image_index(root, split_name)
    files, image_paths = [], []
    for image_id, (txt, line) in zip(ids, origins, strict=True):
        xml = ann_dir / f"{image_id}.xml"
        if not xml.is_file():
            raise DatasetError(f"{where(txt, line)}: annotation {xml} not found")
        if image_id not in images:
            raise DatasetError(
                f"{xml}: its image {image_id}.jpg is not in the JPEGImages folders of {root}"
            )
        files.append(parse_voc_xml(xml, oriented=oriented))
        image_paths.append(images[image_id])
    lookup = ClassLookup(DIOR_CLASSES, ignore_case=True)
    return Dataset(
        format="dior-r" if oriented else "dior",
        version="",
        classes=DIOR_CLASSES,
        box_type="rbox" if oriented else "hbox",
        root=root,
        samples=samples_from_voc(files, image_paths, lookup),
        meta={"split": split_name},
    )
