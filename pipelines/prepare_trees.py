"""Prepare the default tree-crown model's data from the ``deepforest==2.1.0`` wheel.

The wheel ships two annotated NEON aerial RGB crops of conifer forest in Yellowstone
(site YELL, 2019 flight, 10 cm per pixel, class ``Tree``) as PNG + Pascal VOC xml::

    2019_YELL_2_528000_4978000_image_crop2   2299 x 2472 px, 574 crowns  -> train/
    2019_YELL_2_541000_4977000_image_crop    1249 x 1035 px, 279 crowns  -> val/

The split holds out the *whole* smaller image, which lies 13 km from the other: validation
then measures how the model transfers to another stand (different density, a road), not
how well it remembers neighbouring crowns of the training image.

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

from rsdet.errors import InputError, OutputExistsError, RsdetError

__all__ = ["SPLIT", "prepare_trees"]

SPLIT = {
    "2019_YELL_2_528000_4978000_image_crop2": "train",
    "2019_YELL_2_541000_4977000_image_crop": "val",
}
_MEMBER = "deepforest/data/{name}.{ext}"


def prepare_trees(wheel: Path, out: Path, overwrite: bool = False) -> dict[str, int]:
    """Extract the two NEON crops into ``out/train`` and ``out/val`` (VOC folders).

    Returns:
        Number of annotated crowns per split.

    Raises:
        InputError: the file is not the deepforest wheel, or lacks the images.
        OutputExistsError: ``out`` exists and ``overwrite`` is False.
    """
    from rsdet.datasets import load_dataset

    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's private 0700 would outlive the rename
    try:
        _extract(wheel, staging)
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
    """Write the images, their xml and ``classes.txt`` into ``dest/{train,val}``."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as err:
        raise InputError(f"{wheel}: not a readable wheel ({err})") from None
    with archive:
        names = set(archive.namelist())
        for name, split in SPLIT.items():
            folder = dest / split
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "classes.txt").write_text("Tree\n", encoding="utf-8")
            for ext in ("png", "xml"):
                member = _MEMBER.format(name=name, ext=ext)
                if member not in names:
                    raise InputError(
                        f"{wheel}: has no {member}; expected the deepforest==2.1.0 wheel"
                    )
                (folder / f"{name}.{ext}").write_bytes(archive.read(member))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (dest / "SOURCE.txt").write_text(
        f"NEON aerial RGB tree crowns (YELL, 2019, 10 cm) from {wheel.name}\n"
        f"sha256 {digest}\nsplit: {SPLIT}\n",
        encoding="utf-8",
    )


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
