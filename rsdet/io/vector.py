"""Detections as a vector layer: the attribute table, and atomic writes to GIS formats.

The format follows the output's extension:

=============  =====================================================================
``.gpkg``      GeoPackage in the scene CRS; the QGIS style is also stored in its
               ``layer_styles`` table, which QGIS applies when it opens the layer
``.geojson``   RFC 7946 GeoJSON: reprojected to WGS 84 (lon, lat); with ``keep_crs`` the
               native CRS is kept and named in a ``crs`` member (not RFC 7946)
``.shp``       ESRI Shapefile (+ .shx .dbf .prj .cpg), scene CRS
``.parquet``   GeoParquet, scene CRS
=============  =====================================================================

Every format also gets ``<stem>.qml`` beside it. Files are first written into a
temporary folder next to the target and then moved into place with ``os.replace``, so an
interrupted or failed write never leaves a half-written output.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from rsdet.errors import InputError, OutputExistsError
from rsdet.io.georef import box_corners_px, box_measures, linear_unit_m, polygons_crs
from rsdet.io.qml import qml_style
from rsdet.io.raster import SceneInfo
from rsdet.structures import Detections

__all__ = [
    "VectorFormat",
    "combine_frames",
    "detections_frame",
    "output_files",
    "vector_format",
    "write_layer",
]

_SHP_PARTS = (".shx", ".dbf", ".prj", ".cpg")
_GEOMETRY_COLUMN = "geom"


class VectorFormat(Enum):
    """Output formats, by file extension."""

    GPKG = ".gpkg"
    GEOJSON = ".geojson"
    SHP = ".shp"
    PARQUET = ".parquet"


def vector_format(path: str | Path) -> VectorFormat:
    """The format for an output path (raises :class:`InputError` for other extensions)."""
    suffix = Path(path).suffix.lower()
    for fmt in VectorFormat:
        if suffix == fmt.value:
            return fmt
    known = ", ".join(f.value for f in VectorFormat)
    raise InputError(f"{path}: unknown output format {suffix or '(no extension)'!r} (use {known})")


def output_files(path: str | Path) -> list[Path]:
    """Every file :func:`write_layer` creates for ``path`` (the layer, its parts, the .qml)."""
    path = Path(path)
    files = [path, path.with_suffix(".qml")]
    if vector_format(path) is VectorFormat.SHP:
        files += [path.with_suffix(ext) for ext in _SHP_PARTS]
    return files


def detections_frame(
    dets: Detections, scene: SceneInfo, classes: Sequence[str], scene_name: str
) -> gpd.GeoDataFrame:
    """One feature per detection: polygon in the scene CRS plus the attribute columns.

    Args:
        dets: detections in scene pixels.
        scene: the scene (transform and CRS).
        classes: class names by label; labels beyond the list are named by their number.
        scene_name: value of the ``scene`` column.

    Returns:
        Columns ``class_id, class_name, score, [angle_deg,] width_m, height_m, scene``
        (see :func:`rsdet.io.georef.box_measures` for the measures); ``angle_deg`` only for
        oriented boxes. Sizes are NaN unless the CRS is projected.
    """
    labels = dets.labels.cpu().numpy().astype(np.int64)
    names = [classes[k] if 0 <= k < len(classes) else str(k) for k in labels]
    measures = box_measures(dets.boxes, scene.transform, linear_unit_m(scene.crs))
    columns: dict[str, Any] = {
        "class_id": labels,
        "class_name": pd.Series(names, dtype=object),
        "score": dets.scores.cpu().numpy().astype(np.float64),
    }
    if dets.oriented:
        columns["angle_deg"] = measures["angle_deg"]
    columns["width_m"] = measures["width_m"]
    columns["height_m"] = measures["height_m"]
    columns["scene"] = pd.Series([scene_name] * len(labels), dtype=object)
    geometry = polygons_crs(box_corners_px(dets.boxes), scene.transform)
    return gpd.GeoDataFrame(columns, geometry=geometry, crs=scene.crs)


def combine_frames(frames: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Concatenate per-scene frames into one layer in the first scene's CRS.

    Raises:
        InputError: some scenes have a CRS and others do not.
    """
    if not frames:
        raise ValueError("combine_frames needs at least one frame")
    crs = frames[0].crs
    parts = []
    for frame in frames:
        if (frame.crs is None) != (crs is None):
            raise InputError("cannot write scenes with and without a CRS into one layer")
        parts.append(frame if crs is None or frame.crs == crs else frame.to_crs(crs))
    merged = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=crs)


def write_layer(
    frame: gpd.GeoDataFrame,
    path: str | Path,
    classes: Sequence[str],
    keep_crs: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``frame`` to ``path`` (format by extension) and its QGIS style beside it.

    Args:
        frame: features in their scene CRS (or without CRS).
        path: output file; its stem names the layer.
        classes: class names for the style, in label order.
        keep_crs: for GeoJSON, keep the native CRS instead of reprojecting to WGS 84.
        overwrite: replace existing files; otherwise an existing output is an error.

    Returns:
        The files written.

    Raises:
        OutputExistsError: an output file exists and ``overwrite`` is False.
    """
    path = Path(path)
    fmt = vector_format(path)
    if not overwrite:
        ensure_absent(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    style = qml_style(classes)
    with _staging(path.parent) as tmp_dir:
        staged = tmp_dir / path.name
        _WRITERS[fmt](frame, staged, keep_crs)
        if fmt is VectorFormat.GPKG:
            _store_gpkg_style(staged, path.stem, style)
        staged.with_suffix(".qml").write_text(style, encoding="utf-8")
        written = [p for p in output_files(path) if (tmp_dir / p.name).exists()]
        for target in sorted(written, key=lambda p: p == path):  # the layer itself last
            os.replace(tmp_dir / target.name, target)
    return written


def ensure_absent(path: str | Path) -> None:
    """Raise :class:`OutputExistsError` if any file of output ``path`` exists."""
    for file in output_files(path):
        if file.exists():
            raise OutputExistsError(f"{file}: already exists (pass --overwrite to replace it)")


@contextmanager
def _staging(folder: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix=".rsdet-write-", dir=folder))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_gpkg(frame: gpd.GeoDataFrame, path: Path, keep_crs: bool) -> None:
    import pyogrio

    pyogrio.write_dataframe(
        frame,
        path,
        layer=path.stem,
        driver="GPKG",
        geometry_type="Polygon",
        layer_options={"GEOMETRY_NAME": _GEOMETRY_COLUMN, "SPATIAL_INDEX": "YES"},
    )


def _write_geojson(frame: gpd.GeoDataFrame, path: Path, keep_crs: bool) -> None:
    import pyogrio

    rfc7946 = frame.crs is not None and not keep_crs
    out = frame.to_crs(4326) if rfc7946 else frame
    pyogrio.write_dataframe(
        out,
        path,
        driver="GeoJSON",
        geometry_type="Polygon",
        layer_options={"RFC7946": "YES" if rfc7946 else "NO"},
    )


def _write_shp(frame: gpd.GeoDataFrame, path: Path, keep_crs: bool) -> None:
    import pyogrio

    pyogrio.write_dataframe(
        frame, path, driver="ESRI Shapefile", geometry_type="Polygon", encoding="UTF-8"
    )


def _write_parquet(frame: gpd.GeoDataFrame, path: Path, keep_crs: bool) -> None:
    frame.to_parquet(path, index=False)


_WRITERS = {
    VectorFormat.GPKG: _write_gpkg,
    VectorFormat.GEOJSON: _write_geojson,
    VectorFormat.SHP: _write_shp,
    VectorFormat.PARQUET: _write_parquet,
}


def _store_gpkg_style(path: Path, layer: str, style: str) -> None:
    """Add the style to ``layer_styles`` with the columns QGIS reads and writes."""
    import pyogrio

    row = {
        "f_table_catalog": "",
        "f_table_schema": "",
        "f_table_name": layer,
        "f_geometry_column": _GEOMETRY_COLUMN,
        "styleName": layer,
        "styleQML": style,
        "styleSLD": "",
        "useAsDefault": True,
        "description": "rsdet detections: outline colour by class, score labels",
        "owner": "",
        "ui": "",
        "update_time": pd.Timestamp.now(tz="UTC").floor("s"),
    }
    table = pd.DataFrame({key: [value] for key, value in row.items()})
    pyogrio.write_dataframe(
        table, path, layer="layer_styles", driver="GPKG", layer_options={"FID": "id"}
    )
