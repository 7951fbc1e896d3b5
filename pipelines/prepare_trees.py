"""Prepare the default tree-crown model's data from the ``deepforest==2.1.0`` wheel.

The wheel ships two annotated NEON aerial RGB crops of conifer forest in Yellowstone
(site YELL, 2019 flight, 10 cm per pixel, class ``Tree``) as PNG + Pascal VOC xml::

    2019_YELL_2_528000_4978000_image_crop2   2299 x 2472 px (w x h), 574 crowns
    2019_YELL_2_541000_4977000_image_crop    1249 x 1035 px,         279 crowns

The two are different stands: sparse trees with long shadows on a meadow, and dense forest
cut by a road. Holding out one whole image would train on one kind of stand and test on the
other, and the shipped model would never see a road or closed canopy. So the split is
*spatial, inside each image*: the bottom quarter of every image (rows ``>= 0.75 H``) is the
validation set, the rest is the training set. A crown cut by that line is clipped to each
side; a part holding less than 70 % of its crown is flagged truncated (difficulty 2), which
training ignores and evaluation treats as difficult (neither a miss nor a false positive).

Usage (the wheel is read as a zip file; deepforest is never installed or imported)::

    pip download --no-deps deepforest==2.1.0 -d wheels/
    python -m rsdet.pipelines.prepare_trees wheels/deepforest-2.1.0-py3-none-any.whl data/trees

The result loads as ``voc:data/trees/train`` and ``voc:data/trees/val``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from rsdet.datasets import WindowClipper, load_dataset, read_image
from rsdet.datasets.voc_xml import format_voc_xml
from rsdet.errors import InputError, OutputExistsError, RsdetError
from rsdet.structures import TRUNCATED

__all__ = ["IMAGES", "VAL_FRACTION", "prepare_trees"]

IMAGES = ("2019_YELL_2_528000_4978000_image_crop2", "2019_YELL_2_541000_4977000_image_crop")
VAL_FRACTION = 0.25  # bottom share of each image's rows held out for validation
_MEMBER = "deepforest/data/{name}.{ext}"


def prepare_trees(wheel: Path, out: Path, overwrite: bool = False) -> dict[str, int]:
    """Extract the two NEON crops and split them into ``out/train`` and ``out/val`` (VOC).

    Returns:
        Number of annotated crowns per split.

    Raises:
        InputError: the file is not the deepforest wheel, or lacks the images.
        OutputExistsError: ``out`` exists and ``overwrite`` is False.
    """
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's private 0700 would outlive the rename
    try:
        _extract(wheel, staging / "raw")
        _split_rows(staging / "raw", staging)
        shutil.rmtree(staging / "raw")
        counts = {}
        for split in ("train", "val"):
            counts[split] = load_dataset(f"voc:{staging / split}").num_objects
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)  # all or nothing: a half-written folder never appears
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return counts


def _extract(wheel: Path, dest: Path) -> None:
    """Write the two images, their xml and ``classes.txt`` into ``dest`` (a VOC folder)."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as err:
        raise InputError(f"{wheel}: not a readable wheel ({err})") from None
    dest.mkdir(parents=True)
    (dest / "classes.txt").write_text("Tree\n", encoding="utf-8")
    with archive:
        names = set(archive.namelist())
        for name in IMAGES:
            for ext in ("png", "xml"):
                member = _MEMBER.format(name=name, ext=ext)
                if member not in names:
                    raise InputError(
                        f"{wheel}: has no {member}; expected the deepforest==2.1.0 wheel"
                    )
                (dest / f"{name}.{ext}").write_bytes(archive.read(member))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (dest.parent / "SOURCE.txt").write_text(
        f"NEON aerial RGB tree crowns (YELL, 2019, 10 cm) from {wheel.name}\n"
        f"sha256 {digest}\n"
        f"split: rows >= {1 - VAL_FRACTION:.2f} x height of each image -> val, the rest -> train\n",
        encoding="utf-8",
    )


def _split_rows(raw: Path, dest: Path) -> None:
    """Cut every image of the VOC folder ``raw`` at ``(1 - VAL_FRACTION) * height``."""
    dataset = load_dataset(f"voc:{raw}")
    for split in ("train", "val"):
        (dest / split).mkdir()
        (dest / split / "classes.txt").write_text("Tree\n", encoding="utf-8")
    for sample in dataset.samples:
        image = read_image(sample)
        cut = round(sample.height * (1 - VAL_FRACTION))
        clipper = WindowClipper(sample.polygons)
        for split, (top, bottom) in (("train", (0, cut)), ("val", (cut, sample.height))):
            part = clipper.clip(0, top, sample.width, bottom)
            difficulty = sample.difficulty[part.index].copy()
            difficulty[part.inside < 0.7] = TRUNCATED
            polygons = part.polygons - np.array([0.0, top])
            name = f"{sample.image_id}_{split}"
            pixels = image[top:bottom]
            cv2.imwrite(str(dest / split / f"{name}.png"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
            xml = format_voc_xml(
                f"{name}.png",
                (bottom - top, sample.width, 3),
                polygons,
                sample.labels[part.index],
                difficulty,
                dataset.classes,
            )
            (dest / split / f"{name}.xml").write_text(xml, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="deepforest-2.1.0-py3-none-any.whl")
    parser.add_argument("out", type=Path, help="output folder, e.g. data/trees")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT")
    args = parser.parse_args(argv)
    try:
        counts = prepare_trees(args.wheel, args.out, args.overwrite)
    except RsdetError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 2
    print(f"{args.out}: train {counts['train']} crowns, val {counts['val']} crowns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
