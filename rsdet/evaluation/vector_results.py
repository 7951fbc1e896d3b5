"""Read detections from a vector layer (what ``rsdet detect`` writes) back into scene pixels.

The layer holds one polygon per detection in map coordinates (any CRS; GeoJSON in WGS 84)
with a ``score`` attribute, a class name (``class_name``, else ``class`` or ``label``) and a
``scene`` attribute naming the scene by file name, stem or path (it may be left out when
there is one scene). Each scene's features are reprojected to the scene's CRS and mapped to
its pixels through the inverse of its affine transform (pixel ``(0, 0)`` covers
``[0, 1)²``), so they are compared with the ground truth in the frame it was read in.

Box type: a layer with an ``angle_deg`` attribute (oriented detections) gives ``RBoxes``,
the minimum-area rectangle of each outline; otherwise each outline's axis-aligned envelope
gives ``HBoxes`` (exactly the box ``rsdet detect`` wrote, up to floating-point rounding).
Class names match the ground truth's case-insensitively, as DOTA result files do.

Formats: ``.gpkg``, ``.geojson``, ``.shp``, ``.fgb`` (read with pyogrio) and ``.parquet``
(GeoParquet). Any problem is one line naming the file (and the feature).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdet.datasets.geometry import quads_from_rings
from rsdet.errors import InputError
from rsdet.structures import Detections, HBoxes, RBoxes, Sample

__all__ = ["VECTOR_RESULT_SUFFIXES", "VectorResultsError", "read_vector_results"]

VECTOR_RESULT_SUFFIXES = (".gpkg", ".geojson", ".shp", ".fgb", ".parquet")
_CLASS_FIELDS = ("class_name", "class", "label")


class VectorResultsError(InputError):
    """A detections layer is missing, unreadable or does not fit the ground-truth scenes."""


def read_vector_results(
    path: Path, samples: Sequence[Sample], classes: Sequence[str]
) -> dict[str, Detections]:
    """Detections per scene, in that scene's pixels.

    Args:
        path: the layer (see the module docstring for formats and attributes).
        samples: the ground-truth scenes, as ``geo:`` reads them: ``image_id`` is the file
            stem, ``image_path`` the GeoTIFF, ``meta["crs"]`` (WKT) and ``meta["transform"]``
            (affine ``a, b, c, d, e, f``, pixels to map) place them.
        classes: ground-truth class names; detection labels index them.

    Returns:
        ``image_id -> Detections`` for every scene that has detections (scores as stored).

    Raises:
        VectorResultsError: unreadable file, no CRS, missing ``score`` / class / ``scene``
            attribute, a class or scene the ground truth does not have, a non-polygon.
    """
    frame = _read_layer(path)
    labels = _labels(frame, path, classes)
    scores = _scores(frame, path)
    scene_of = _scene_keys(frame, path, samples)
    oriented = "angle_deg" in frame.columns
    out: dict[str, Detections] = {}
    for sample in samples:
        rows = np.flatnonzero(scene_of == sample.image_id)
        if len(rows):
            quads = _quads_px(frame.iloc[rows], sample, path)
            boxes = _boxes(quads, oriented)
            out[sample.image_id] = Detections(
                boxes, torch.from_numpy(scores[rows]), torch.from_numpy(labels[rows])
            )
    return out


def _read_layer(path: Path) -> Any:
    """The layer as a GeoDataFrame with a CRS; errors name the file."""
    import geopandas as gpd
    import pyogrio

    if path.suffix.lower() not in VECTOR_RESULT_SUFFIXES:
        raise VectorResultsError(
            f"{path}: not a detections layer (expected {', '.join(VECTOR_RESULT_SUFFIXES)})"
        )
    if not path.is_file():
        raise VectorResultsError(f"{path}: file not found")
    try:
        if path.suffix.lower() == ".parquet":
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path, layer=_spatial_layer(path))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as err:
        if isinstance(err, VectorResultsError):
            raise
        raise VectorResultsError(
            f"{path}: cannot read vector data ({str(err).splitlines()[0]})"
        ) from None
    if frame.crs is None:
        raise VectorResultsError(f"{path}: the layer has no CRS, so it cannot be placed on a scene")
    return frame


def _spatial_layer(path: Path) -> str | None:
    """The one layer with geometries (a GeoPackage also holds ``layer_styles``)."""
    import pyogrio

    layers = [str(name) for name, geometry in pyogrio.list_layers(path) if geometry]
    if len(layers) <= 1:
        return layers[0] if layers else None
    if path.stem in layers:
        return path.stem
    raise VectorResultsError(
        f"{path}: holds several layers ({', '.join(layers)}) and none named {path.stem!r}"
    )


def _labels(frame: Any, path: Path, classes: Sequence[str]) -> np.ndarray:
    """Class index of every feature (one class: the attribute may be left out)."""
    field = next((f for f in _CLASS_FIELDS if f in frame.columns), None)
    if field is None:
        if len(classes) == 1:
            return np.zeros(len(frame), np.int64)
        raise VectorResultsError(
            f"{path}: no class attribute (looked for {', '.join(_CLASS_FIELDS)}) and the "
            f"ground truth has {len(classes)} classes"
        )
    # Case-insensitive, as DOTA result files are matched (a model's "Tree", labels' "tree").
    index = {name.casefold(): i for i, name in enumerate(classes)}
    labels = np.zeros(len(frame), np.int64)
    for row, value in enumerate(frame[field]):
        name = str(value).strip()
        if name.casefold() not in index:
            raise VectorResultsError(
                f"{path}: feature {frame.index[row]}: class {name!r} is not a ground-truth "
                f"class ({', '.join(classes)}); list every class in the scenes' classes.txt"
            )
        labels[row] = index[name.casefold()]
    return labels


def _scores(frame: Any, path: Path) -> np.ndarray:
    if "score" not in frame.columns:
        raise VectorResultsError(f"{path}: no 'score' attribute")
    scores = np.asarray(frame["score"].to_numpy(), np.float64)
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        raise VectorResultsError(f"{path}: feature {frame.index[bad[0]]}: score is not a number")
    return scores.astype(np.float32)


def _scene_keys(frame: Any, path: Path, samples: Sequence[Sample]) -> np.ndarray:
    """The ``image_id`` of every feature's scene, matched by file name, stem or path."""
    ids = [s.image_id for s in samples]
    if "scene" not in frame.columns:
        if len(samples) == 1:
            return np.full(len(frame), ids[0], dtype=object)
        raise VectorResultsError(
            f"{path}: no 'scene' attribute saying which of the {len(samples)} scenes each "
            "detection belongs to"
        )
    lookup: dict[str, str] = {}
    for s in samples:
        scene_path = Path(s.image_path) if s.image_path is not None else Path(s.image_id)
        lookup.update({s.image_id: s.image_id, scene_path.name: s.image_id})
    keys = np.empty(len(frame), dtype=object)
    for row, value in enumerate(frame["scene"].astype(str)):
        key = lookup.get(value) or lookup.get(Path(value).name)
        if key is None:
            raise VectorResultsError(
                f"{path}: feature {frame.index[row]}: scene {value!r} is not among the "
                f"ground-truth scenes ({', '.join(ids)})"
            )
        keys[row] = key
    return keys


def _quads_px(frame: Any, sample: Sample, path: Path) -> np.ndarray:
    """(N, 4, 2) outlines in the scene's pixels: reproject, then the inverse affine."""
    import pyproj
    from affine import Affine

    local = frame.to_crs(pyproj.CRS.from_wkt(sample.meta["crs"]))
    a, b, c, d, e, f = (~Affine(*sample.meta["transform"]))[:6]
    rings = []
    for fid, geom in zip(local.index, local.geometry, strict=True):
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            kind = "an empty geometry" if geom is None or geom.is_empty else geom.geom_type
            raise VectorResultsError(f"{path}: feature {fid}: expected a Polygon, got {kind}")
        parts = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
        x, y = np.concatenate([np.asarray(p.exterior.coords)[:, :2] for p in parts]).T
        rings.append(np.stack([a * x + b * y + c, d * x + e * y + f], axis=-1))
    return quads_from_rings(rings)


def _boxes(quads: np.ndarray, oriented: bool) -> HBoxes | RBoxes:
    """Minimum-area rectangles (oriented) or axis-aligned envelopes of the outlines."""
    if oriented:
        return RBoxes.from_polygons(torch.from_numpy(quads).to(torch.float32))
    lo, hi = quads.min(axis=1), quads.max(axis=1)
    return HBoxes(torch.from_numpy(np.concatenate([lo, hi], axis=1)).to(torch.float32))
