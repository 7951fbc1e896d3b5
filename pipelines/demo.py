"""Write a synthetic, georeferenced scene to try rsdet on: the guts of ``rsdet demo``."""

from __future__ import annotations

from pathlib import Path

from rsdet.errors import InputError, OutputExistsError
from rsdet.structures import Sample
from rsdet.synthetic import make_scene, write_geotiff

__all__ = ["write_demo_scene"]


def write_demo_scene(
    out: Path, *, size: int, seed: int, kind: str, gsd: float | None, overwrite: bool
) -> Sample:
    """Draw a synthetic scene and write it as a GeoTIFF (UTM 12N, near Yellowstone).

    Args:
        out: the GeoTIFF to write; its folder must exist.
        size: scene edge, pixels.
        seed: equal seeds give equal scenes.
        kind: ``trees``, ``vehicles`` or ``mixed``.
        gsd: metres per pixel (None: the kind's default).
        overwrite: replace ``out`` when it exists (else :class:`OutputExistsError`).

    Returns:
        The scene written; ``meta["gsd"]`` is its pixel size in metres and
        ``meta["classes"]`` its class names.
    """
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists (pass --overwrite to replace it)")
    if out.parent != Path() and not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such folder")
    scene = make_scene(seed, size, kind, gsd)
    write_geotiff(scene, out)
    return scene
