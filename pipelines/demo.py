"""Write a synthetic, georeferenced scene to try rsdet on: the guts of ``rsdet demo``.

Besides the GeoTIFF, its exact ground truth goes to ``<scene stem>.gpkg`` beside it: one
polygon per object in the scene's CRS, with ``class`` and ``scene`` attributes. That is the
per-scene layout ``geo:`` reads, so ``rsdet eval --gt geo:scene.tif --pred trees.gpkg``
scores what ``rsdet detect`` found. No ``.qml`` goes with it: QGIS would apply a
``scene.qml`` to ``scene.tif`` too.
"""

from __future__ import annotations

from pathlib import Path

from rsdet.errors import InputError, OutputError, OutputExistsError
from rsdet.io.atomic import atomic_output
from rsdet.io.georef import polygons_crs
from rsdet.structures import Sample
from rsdet.synthetic import DEMO_CRS, DEMO_ORIGIN, make_scene, write_geotiff

__all__ = ["demo_labels_path", "write_demo_scene"]


def demo_labels_path(out: Path) -> Path:
    """Where :func:`write_demo_scene` writes the labels of scene ``out``."""
    return out.with_suffix(".gpkg")


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
        ``meta["classes"]`` its class names. Its labels are in :func:`demo_labels_path`.
    """
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"{out}: the scene is a GeoTIFF; name it .tif or .tiff")
    for path in (out, demo_labels_path(out)):
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path}: already exists (pass --overwrite to replace it)")
    if out.parent != Path() and not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such folder")
    scene = make_scene(seed, size, kind, gsd)
    existed = out.exists()
    try:
        write_geotiff(scene, out)
        _write_labels(scene, out)
    except OSError as err:  # a read-only folder, a full disk (atomic writes leave no part)
        if not existed:
            out.unlink(missing_ok=True)  # no scene without its labels
        reason = err.strerror or str(err).splitlines()[0]
        raise OutputError(f"{out}: cannot write the demo scene there ({reason})") from None
    return scene


def _write_labels(scene: Sample, out: Path) -> None:
    """The scene's objects as polygons in its CRS (the transform ``write_geotiff`` used)."""
    import geopandas as gpd
    from affine import Affine

    gsd = float(scene.meta["gsd"])
    transform = Affine(gsd, 0.0, DEMO_ORIGIN[0], 0.0, -gsd, DEMO_ORIGIN[1])
    names = [scene.meta["classes"][i] for i in scene.labels]
    frame = gpd.GeoDataFrame(
        {"class": names, "scene": [out.name] * len(names)},
        geometry=polygons_crs(scene.polygons.reshape(-1, 4, 2), transform),
        crs=DEMO_CRS,
    )
    with atomic_output(demo_labels_path(out)) as tmp:
        frame.to_file(tmp, driver="GPKG", layer=out.stem)
