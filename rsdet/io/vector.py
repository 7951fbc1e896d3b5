"""Detections as a vector layer: the attribute table, and atomic writes to GIS formats.

The format follows the output's extension:

=============  =====================================================================
``.gpkg``      GeoPackage in the scene CRS; the QGIS style is stored in its
               ``layer_styles`` table, which QGIS applies when it opens the layer, and the
               run metadata is GDAL layer metadata (``gpkg_metadata``)
``.geojson``   RFC 7946 GeoJSON: reprojected to WGS 84 (lon, lat); with ``keep_crs`` the
               native CRS is kept and named in a ``crs`` member (not RFC 7946); the run
               metadata is a top-level ``rsdet`` member
``.shp``       ESRI Shapefile (+ .shx .dbf .prj .cpg), scene CRS; no run metadata
``.parquet``   GeoParquet 1.0.0 (GDAL >= 3.8 with its Parquet driver reads it), scene CRS;
               the run metadata is the ``rsdet`` key of the file's key-value metadata (JSON)
=============  =====================================================================

The other formats get their style as ``<stem>.qml`` beside them; an existing sidecar with
the same text is not a conflict, so ``x.geojson`` and ``x.shp`` can share a folder. Files
are first written into a temporary folder next to the target and then moved into place with
``os.replace``, so an interrupted or failed write never leaves a half-written output.

Determinism: the only date in the bytes is the run metadata's ``date`` (GDAL's own
timestamps in a GeoPackage are set to it too), which the caller derives from the inputs,
so the same input gives byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from rsdet.errors import InputError, OutputExistsError
from rsdet.io.georef import box_corners_px, box_measures, polygons_crs
from rsdet.io.qml import qml_style
from rsdet.io.raster import SceneInfo
from rsdet.structures import Detections

__all__ = [
    "METADATA_KEY",
    "VectorFormat",
    "append_layer",
    "check_append",
    "combine_frames",
    "detections_frame",
    "output_files",
    "read_metadata",
    "vector_format",
    "write_layer",
]

_SHP_PARTS = (".shx", ".dbf", ".prj", ".cpg")
_GEOMETRY_COLUMN = "geom"
# Decimals kept: scores carry float32 precision (~1e-7), sizes are kept to the millimetre.
_SCORE_DECIMALS, _METRE_DECIMALS, _ANGLE_DECIMALS = 6, 3, 2
METADATA_KEY = "rsdet"


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
    """Every file :func:`write_layer` creates for ``path`` (the layer, its parts, the .qml).

    A GeoPackage carries its style inside, so it is one file.
    """
    path = Path(path)
    fmt = vector_format(path)
    if fmt is VectorFormat.GPKG:
        return [path]
    files = [path, path.with_suffix(".qml")]
    if fmt is VectorFormat.SHP:
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
        oriented boxes. Sizes are ground metres in any CRS, NaN without one.
        ``class_id`` is int32 (an Integer field in every format); scores are rounded to
        6 decimals (no float32 noise: 0.9, not 0.8999999761581421), sizes to the
        millimetre and angles to 0.01 degree.
    """
    labels = dets.labels.cpu().numpy().astype(np.int64)
    names = [classes[k] if 0 <= k < len(classes) else str(k) for k in labels]
    measures = box_measures(dets.boxes, scene.transform, scene.crs)
    columns: dict[str, Any] = {
        "class_id": labels.astype(np.int32),
        "class_name": pd.Series(names, dtype=object),
        "score": np.round(dets.scores.cpu().numpy().astype(np.float64), _SCORE_DECIMALS),
    }
    if dets.oriented:
        # 179.996 rounds to 180.0, which is 0 in [0, 180)
        columns["angle_deg"] = np.round(measures["angle_deg"], _ANGLE_DECIMALS) % 180.0
    columns["width_m"] = np.round(measures["width_m"], _METRE_DECIMALS)
    columns["height_m"] = np.round(measures["height_m"], _METRE_DECIMALS)
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
    metadata: Mapping[str, Any] | None = None,
    append: bool = False,
) -> list[Path]:
    """Write ``frame`` to ``path`` (format by extension) with its QGIS style and metadata.

    Args:
        frame: features in their scene CRS (or without CRS).
        path: output file; its stem names the layer.
        classes: class names for the style, in label order.
        keep_crs: for GeoJSON, keep the native CRS instead of reprojecting to WGS 84.
        overwrite: replace existing files; otherwise an existing output is an error.
        metadata: run metadata (plain JSON data) stored with the layer (see the module
            docstring); its ``date`` (ISO 8601, UTC) also stamps GDAL's own timestamps.
        append: add the features to the existing GeoPackage layer at ``path`` (see
            :func:`append_layer`).

    Returns:
        The files written.

    Raises:
        OutputExistsError: an output file exists and ``overwrite`` is False.
        InputError: ``append`` to a missing file, another format, or another layer.
    """
    path = Path(path)
    fmt = vector_format(path)
    meta = dict(metadata or {})
    if append:
        return append_layer(frame, path, classes, meta)
    style = qml_style(classes)
    if not overwrite:
        ensure_absent(path, style)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _staging(path.parent) as tmp_dir, _gdal_date(meta.get("date")):
        staged = tmp_dir / path.name
        _WRITERS[fmt](frame, staged, keep_crs, meta)
        if fmt is VectorFormat.GPKG:
            _store_gpkg_style(staged, path.stem, style, meta.get("date"))
        else:
            staged.with_suffix(".qml").write_text(style, encoding="utf-8")
        written = [p for p in output_files(path) if (tmp_dir / p.name).exists()]
        for target in sorted(written, key=lambda p: p == path):  # the layer itself last
            os.replace(tmp_dir / target.name, target)
    return written


def ensure_absent(path: str | Path, style: str | None = None) -> None:
    """Raise :class:`OutputExistsError` if a file of output ``path`` is in the way.

    The ``.qml`` sidecar is in the way only when it differs from ``style`` (the same
    style written by another format's output is shared); without ``style`` it is not
    checked (call again once the classes, and so the style, are known).
    """
    for file in output_files(path):
        if not file.exists():
            continue
        if file.suffix == ".qml" and file != Path(path):
            if style is None or _same_text(file, style):
                continue
            raise OutputExistsError(
                f"{file}: already exists with another style (pass --overwrite to replace it)"
            )
        raise OutputExistsError(f"{file}: already exists (pass --overwrite to replace it)")


def _same_text(file: Path, text: str) -> bool:
    try:
        return file.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def append_layer(
    frame: gpd.GeoDataFrame, path: Path, classes: Sequence[str], meta: dict[str, Any]
) -> list[Path]:
    """Add ``frame`` to the rsdet layer of the GeoPackage ``path``, atomically.

    The file is copied into a staging folder, the features are appended to the copy, and
    the copy replaces the file: an interrupted append leaves the old file. The layer must
    have been written by rsdet with the same columns and classes; features are
    reprojected to its CRS. Its metadata lists the scenes of every run (``scenes`` of
    the existing metadata, then ``meta``'s) and takes the rest (date, thresholds) from
    ``meta``.

    Raises:
        InputError: see :func:`check_append`; or the columns (oriented or horizontal
            boxes) or the presence of a CRS differ.
    """
    import pyogrio

    old = check_append(path, classes)
    frame = _matching_frame(frame, path)
    if isinstance(old.get("scenes"), list) and isinstance(meta.get("scenes"), list):
        meta["scenes"] = [*old["scenes"], *meta["scenes"]]
    with _staging(path.parent) as tmp_dir, _gdal_date(meta.get("date")):
        staged = tmp_dir / path.name
        shutil.copy2(path, staged)
        with _no_crs_warning():
            pyogrio.write_dataframe(
                frame,
                staged,
                layer=path.stem,
                driver="GPKG",
                append=True,
                layer_metadata=_gdal_metadata(meta) or None,
            )
        if meta:  # GDAL sets the description only when it creates the layer
            with closing(sqlite3.connect(staged)) as db, db:
                db.execute(
                    "UPDATE gpkg_contents SET description = ? WHERE table_name = ?",
                    (_description(meta), path.stem),
                )
        os.replace(staged, path)
    return [path]


def check_append(path: str | Path, classes: Sequence[str] | None = None) -> dict[str, Any]:
    """Check that ``path`` holds an rsdet GeoPackage layer to append to; its run metadata.

    Args:
        path: the ``.gpkg``; the layer is named by its stem.
        classes: the model's classes, which must be the layer's (None: not checked).

    Raises:
        InputError: ``path`` is not a ``.gpkg``, is missing or unreadable, lacks the
            layer, was not written by rsdet, or holds other classes.
    """
    import pyogrio
    from pyogrio.errors import DataSourceError

    path = Path(path)
    if vector_format(path) is not VectorFormat.GPKG:
        raise InputError(f"{path}: --append works on GeoPackage (.gpkg) outputs only")
    if not path.exists():
        raise InputError(f"{path}: nothing to append to (no such file; drop --append)")
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except DataSourceError as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not a readable GeoPackage ({reason})") from None
    if path.stem not in layers:
        raise InputError(f"{path}: has no layer {path.stem!r} to append to (layers: {layers})")
    old = _read_metadata(path)
    if "classes" not in old:
        raise InputError(f"{path}: layer {path.stem!r} was not written by rsdet; cannot append")
    if classes is not None and list(old["classes"]) != list(classes):
        raise InputError(
            f"{path}: its classes {old['classes']} differ from the model's {list(classes)}"
        )
    return old


def _matching_frame(frame: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """``frame`` in the CRS of the layer it is appended to, after checking that it fits."""
    import pyogrio

    info = pyogrio.read_info(path, layer=path.stem)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if list(info["fields"]) != columns:
        raise InputError(
            f"{path}: its columns {list(info['fields'])} differ from this run's {columns} "
            "(e.g. oriented and horizontal boxes)"
        )
    if (info["crs"] is None) != (frame.crs is None):
        raise InputError(f"{path}: cannot append scenes with and without a CRS to one layer")
    return frame if frame.crs is None else frame.to_crs(info["crs"])


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The run metadata stored in an rsdet layer (empty when it has none)."""
    return _read_metadata(Path(path))


def _read_metadata(path: Path) -> dict[str, Any]:
    fmt = vector_format(path)
    if fmt is VectorFormat.PARQUET:
        import pyarrow.parquet as pq

        raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY.encode())
        return dict(json.loads(raw)) if raw else {}
    if fmt is VectorFormat.GEOJSON:
        with path.open(encoding="utf-8") as f:
            return dict(json.load(f).get(METADATA_KEY, {}))
    if fmt is VectorFormat.SHP:
        return {}
    import pyogrio

    items = pyogrio.read_info(path, layer=path.stem).get("layer_metadata") or {}
    prefix = f"{METADATA_KEY.upper()}_"
    return {
        key[len(prefix) :].lower(): json.loads(value)
        for key, value in items.items()
        if key.startswith(prefix)
    }


@contextmanager
def _staging(folder: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix=".rsdet-write-", dir=folder))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _gdal_date(date: str | None) -> Iterator[None]:
    """Have GDAL stamp a GeoPackage's own timestamps with ``date`` instead of the clock."""
    import pyogrio

    if date is None:
        yield
        return
    stamp = pd.Timestamp(date).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


@contextmanager
def _no_crs_warning() -> Iterator[None]:
    """Silence pyogrio's "'crs' was not provided": rsdet already warned about the scene."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        yield


def _gdal_metadata(meta: Mapping[str, Any]) -> dict[str, str]:
    """Run metadata as GDAL metadata items: ``RSDET_<KEY>`` -> JSON text of the value."""
    return {f"{METADATA_KEY.upper()}_{k.upper()}": json.dumps(v) for k, v in meta.items()}


def _write_gpkg(
    frame: gpd.GeoDataFrame, path: Path, keep_crs: bool, meta: Mapping[str, Any]
) -> None:
    import pyogrio

    options = {"GEOMETRY_NAME": _GEOMETRY_COLUMN, "SPATIAL_INDEX": "YES"}
    if meta:
        options["DESCRIPTION"] = _description(meta)
    with _no_crs_warning():
        pyogrio.write_dataframe(
            frame,
            path,
            layer=path.stem,
            driver="GPKG",
            geometry_type="Polygon",
            layer_options=options,
            layer_metadata=_gdal_metadata(meta) or None,
        )


def _description(meta: Mapping[str, Any]) -> str:
    """``gpkg_contents.description``: QGIS shows it as the layer's abstract (Information)."""
    model = meta.get("model") or {}
    digest = model.get("sha256")
    scenes = meta.get("scenes", [])
    lines = [
        f"rsdet {meta.get('version', '?')} detections",
        f"model: {model.get('name', '?')}" + (f" (sha256 {digest})" if digest else ""),
        f"classes: {', '.join(map(str, meta.get('classes', [])))}",
        f"score >= {meta.get('score_thr')}, IoU {meta.get('iou_thr')}, "
        f"tiles {meta.get('tile_size')} px, overlap {meta.get('overlap')} px",
        f"scenes ({len(scenes)}): {', '.join(map(str, scenes))}",
    ]
    if "date" in meta:
        lines.append(f"date: {meta['date']}")
    return "\n".join(lines)


def _write_geojson(
    frame: gpd.GeoDataFrame, path: Path, keep_crs: bool, meta: Mapping[str, Any]
) -> None:
    import pyogrio

    rfc7946 = frame.crs is not None and not keep_crs
    out = frame.to_crs(4326) if rfc7946 else frame
    options = {"RFC7946": "YES" if rfc7946 else "NO"}
    if meta:  # a foreign member at the top (GDAL >= 3.9)
        options["FOREIGN_MEMBERS_COLLECTION"] = json.dumps({METADATA_KEY: meta})
    with _no_crs_warning():
        pyogrio.write_dataframe(
            out, path, driver="GeoJSON", geometry_type="Polygon", layer_options=options
        )


def _write_shp(
    frame: gpd.GeoDataFrame, path: Path, keep_crs: bool, meta: Mapping[str, Any]
) -> None:
    import pyogrio

    with _no_crs_warning():
        pyogrio.write_dataframe(
            frame, path, driver="ESRI Shapefile", geometry_type="Polygon", encoding="UTF-8"
        )


def _write_parquet(
    frame: gpd.GeoDataFrame, path: Path, keep_crs: bool, meta: Mapping[str, Any]
) -> None:
    # GeoParquet 1.0.0, not geopandas' default 1.1.0: GDAL reads 1.0.0 from 3.8, 1.1.0 from 3.9
    frame.to_parquet(path, index=False, schema_version="1.0.0")
    if meta:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        extra = {METADATA_KEY.encode(): json.dumps(meta).encode()}
        pq.write_table(
            table.replace_schema_metadata({**(table.schema.metadata or {}), **extra}), path
        )


_WRITERS = {
    VectorFormat.GPKG: _write_gpkg,
    VectorFormat.GEOJSON: _write_geojson,
    VectorFormat.SHP: _write_shp,
    VectorFormat.PARQUET: _write_parquet,
}


def _store_gpkg_style(path: Path, layer: str, style: str, date: str | None) -> None:
    """Add the style to ``layer_styles`` with the columns QGIS reads and writes."""
    import pyogrio

    stamp = pd.Timestamp(date) if date else pd.Timestamp.now(tz="UTC")
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
        "update_time": stamp.tz_convert("UTC").floor("s"),
    }
    table = pd.DataFrame({key: [value] for key, value in row.items()})
    pyogrio.write_dataframe(
        table, path, layer="layer_styles", driver="GPKG", layer_options={"FID": "id"}
    )
