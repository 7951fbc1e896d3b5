"""The user's own data (``geo:PATH``): GeoTIFF scenes with vector labels in any CRS.

Scenes: the GeoTIFFs (``.tif``/``.tiff``) in ``PATH/images/`` if that folder exists, else in
``PATH``; ``PATH`` may also be one GeoTIFF.

Labels (first rule that applies):

1. ``?labels=FILE``: one vector file for all scenes;
2. ``PATH/labels.gpkg`` (or ``.geojson``, ``.shp``, ``.fgb``): the same, found by name (the
   layout ``rsdet split`` writes);
3. per scene: ``<scene stem>.gpkg|.geojson|.shp|.fgb`` in ``PATH/labels/`` if that folder
   exists, else next to the scenes.

With one file for all scenes, the ``scene`` attribute (``?scene_field=``) names each
feature's scene by file stem or file name; it may be left out when there is one scene.
Scenes no feature names have zero objects; a feature naming an unknown scene is an error.
Per scene, a vector file without a scene is an error, and so is a scene without a vector
file, unless no scene has one: the scenes are then unlabelled (``Dataset.labelled`` False).

Attributes: the class name comes from ``?class_field=``, else the first of ``class``,
``class_name``, ``label``; without any of them, a ``classes.txt`` naming exactly one class
labels every feature with it. An optional integer ``difficult`` attribute (0/1/2) is kept.
Classes: ``PATH/classes.txt`` (one per line, label order) or the sorted unique names.
Multi-layer files need ``?layer=NAME``.

Geometry: both sides need a CRS (an error names the file otherwise); labels are
reprojected to the scene CRS, then mapped to pixels with the inverse of the scene's affine
transform (pixel ``(0, 0)`` covers ``[0, 1)²``). Each polygon, and each part of a
multipolygon, becomes one object; holes are ignored; 4-corner outlines are kept, any other
outline becomes its minimum-area rectangle (:mod:`rsdet.datasets.geometry`). Objects are
clipped to the scene like patches (:mod:`rsdet.datasets.clip`): partly outside keeps the
inner part and becomes TRUNCATED below 70 % inside; wholly outside is dropped (counted in
``meta["outside"]``) -- unless a scene's every feature misses it, which is reported as an
error because it almost always means a wrong CRS. Pixels are never read.

``Sample.meta``: ``crs`` (WKT), ``transform`` (affine ``a, b, c, d, e, f``), ``nodata``,
``dtype``, ``count`` (bands), ``labels_path`` and ``outside``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsdet.datasets.classes import ClassLookup, read_classes_file
from rsdet.datasets.clip import DEFAULT_IOF_THR, WindowClipper
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.errors import DatasetError, LabelError
from rsdet.datasets.geometry import quads_from_rings
from rsdet.structures import TRUNCATED, Sample

__all__ = ["CLASS_FIELDS", "VECTOR_SUFFIXES", "GeoOptions", "SceneInfo", "read_geo", "scene_info"]

VECTOR_SUFFIXES = (".gpkg", ".geojson", ".shp", ".fgb")
CLASS_FIELDS = ("class", "class_name", "label")
_SCENE_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class GeoOptions:
    """Options of a ``geo:`` spec (see the module docstring)."""

    labels: Path | None = None
    scene_field: str = "scene"
    class_field: str | None = None
    layer: str | None = None
    default_class: str | None = None  # labels without a class attribute are all this class


@dataclass(frozen=True)
class SceneInfo:
    """Header of a GeoTIFF scene (no pixels read)."""

    path: Path
    height: int
    width: int
    crs_wkt: str
    transform: tuple[float, float, float, float, float, float]
    nodata: float | None
    dtype: str
    count: int


def scene_info(path: Path) -> SceneInfo:
    """Read a scene's size, CRS, transform, nodata, dtype and band count.

    Raises:
        DatasetError: unreadable raster, or no CRS / no georeferencing.
    """
    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(path) as ds:
                crs, t = ds.crs, ds.transform
                info = (ds.height, ds.width, ds.nodata, ds.dtypes[0], ds.count)
    except rasterio.errors.RasterioIOError as err:
        raise DatasetError(f"{path}: cannot open raster ({str(err).splitlines()[0]})") from None
    if crs is None:
        raise DatasetError(f"{path}: the scene has no CRS, so its labels cannot be placed on it")
    height, width, nodata, dtype, count = info
    return SceneInfo(
        path, height, width, crs.to_wkt(), (t.a, t.b, t.c, t.d, t.e, t.f), nodata, dtype, count
    )


def _find_scenes(path: Path) -> tuple[dict[str, Path], Path, Path]:
    """Scenes by stem, the base folder and the folder holding the scenes.

    The base folder is where ``labels/``, ``labels.*`` and ``classes.txt`` are looked for.
    """
    if path.is_file():
        return {path.stem: path}, path.parent, path.parent
    if not path.is_dir():
        raise DatasetError(f"{path}: no such GeoTIFF or folder")
    folder = path / "images" if (path / "images").is_dir() else path
    scenes: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in _SCENE_SUFFIXES:
            if p.stem in scenes:
                raise DatasetError(f"{p}: two scenes named {p.stem!r}; keep one")
            scenes[p.stem] = p
    if not scenes:
        raise DatasetError(f"{folder}: no GeoTIFF scenes (.tif, .tiff) found")
    return scenes, path, folder


def _vector_files(folder: Path, stems: Collection[str] | None = None) -> dict[str, Path]:
    """Label files in ``folder`` by stem (only ``stems`` when given).

    Files of other stems are not looked at, so a detections layer saved beside a single
    scene in two formats (``trees.gpkg``, ``trees.geojson``) does not stop ``geo:scene.tif``.
    """
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not p.is_file() or p.suffix.lower() not in VECTOR_SUFFIXES:
            continue
        if stems is not None and p.stem not in stems:
            continue
        if p.stem in found:
            raise DatasetError(
                f"{p}: two label files for {p.stem!r} ({found[p.stem].name}); keep one"
            )
        found[p.stem] = p
    return found


def _read_vector(path: Path, layer: str | None) -> Any:
    """A GeoDataFrame indexed by feature id; errors name the file."""
    import geopandas as gpd
    import pyogrio

    if not path.is_file():
        raise DatasetError(f"{path}: labels file not found")
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
        if layer is None and len(layers) > 1:
            raise DatasetError(
                f"{path}: holds several layers ({', '.join(layers)}); choose one with ?layer=NAME"
            )
        frame = gpd.read_file(path, layer=layer, fid_as_index=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:
        raise DatasetError(
            f"{path}: cannot read vector data ({str(err).splitlines()[0]})"
        ) from None
    if frame.crs is None:
        raise DatasetError(f"{path}: the labels have no CRS, so they cannot be placed on a scene")
    return frame


def _class_field(frame: Any, path: Path, wanted: str | None, single: str | None) -> str | None:
    """The attribute naming classes; None means "every feature is the one class ``single``"."""
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if wanted is not None:
        if wanted not in columns:
            raise DatasetError(
                f"{path}: no attribute {wanted!r} (attributes: {', '.join(columns) or 'none'})"
            )
        return wanted
    for name in CLASS_FIELDS:
        if name in columns:
            return name
    if single is not None:
        return None
    raise DatasetError(
        f"{path}: no class attribute (looked for {', '.join(CLASS_FIELDS)}; attributes: "
        f"{', '.join(columns) or 'none'}); set ?class_field=NAME"
    )


@dataclass
class _Features:
    """Labels of one scene, still in the labels file's CRS."""

    path: Path
    frame: Any
    class_field: str | None


def _assign_features(
    frame: Any, path: Path, scenes: dict[str, Path], options: GeoOptions, class_field: str | None
) -> dict[str, _Features]:
    """Split a single labels file into per-scene feature sets by the scene attribute."""
    if options.scene_field not in frame.columns:
        if len(scenes) == 1:
            return {next(iter(scenes)): _Features(path, frame, class_field)}
        raise DatasetError(
            f"{path}: no {options.scene_field!r} attribute saying which of the "
            f"{len(scenes)} scenes each feature belongs to; set ?scene_field=NAME"
        )
    by_name = {p.name: stem for stem, p in scenes.items()} | {stem: stem for stem in scenes}
    keys = frame[options.scene_field].astype(str)
    unknown = ~keys.isin(list(by_name))
    if unknown.any():
        fid = frame.index[np.flatnonzero(unknown.to_numpy())[0]]
        value = keys.loc[fid]
        raise DatasetError(f"{path}: feature {fid}: scene {value!r} is not among the scenes found")
    stems = keys.map(by_name)
    return {
        stem: _Features(path, frame[stems == stem], class_field)
        for stem in scenes
        if (stems == stem).any()
    }


def _rings_px(geom: Any, inverse: Any, path: Path, fid: object) -> list[np.ndarray]:
    """Exterior rings of a (multi)polygon, in pixel coordinates."""
    if geom is None or geom.is_empty:
        raise LabelError(f"{path}: feature {fid}: empty geometry")
    if geom.geom_type == "Polygon":
        parts = [geom]
    elif geom.geom_type == "MultiPolygon":
        parts = list(geom.geoms)
    else:
        raise LabelError(
            f"{path}: feature {fid}: expected a Polygon or MultiPolygon, got {geom.geom_type}"
        )
    rings = []
    for part in parts:
        x, y = np.asarray(part.exterior.coords)[:, :2].T
        a, b, c, d, e, f = inverse[:6]
        rings.append(np.stack([a * x + b * y + c, d * x + e * y + f], axis=-1))
    return rings


def _difficulty(frame: Any, path: Path) -> np.ndarray:
    if "difficult" not in frame.columns:
        return np.zeros(len(frame), np.int8)
    values: np.ndarray = np.asarray(frame["difficult"].fillna(0).to_numpy())
    for fid, value in zip(frame.index, values, strict=True):
        if value not in (0, 1, 2):
            raise LabelError(f"{path}: feature {fid}: 'difficult' must be 0, 1 or 2, got {value!r}")
    return np.asarray(values, np.int8)


def _names(features: _Features, single: str | None) -> list[str]:
    frame, field = features.frame, features.class_field
    if field is None:
        return [str(single)] * len(frame)
    names = []
    for fid, value in zip(frame.index, frame[field], strict=True):
        if (
            value is None
            or (isinstance(value, float) and np.isnan(value))
            or str(value).strip() == ""
        ):
            raise LabelError(f"{features.path}: feature {fid}: no class name in {field!r}")
        names.append(str(value).strip())
    return names


def _objects_px(
    features: _Features, names: list[str], lookup: ClassLookup, info: SceneInfo
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Outer rings of every polygon part in the scene's pixels, with labels and difficulty."""
    import pyproj
    from affine import Affine

    frame = features.frame.to_crs(pyproj.CRS.from_wkt(info.crs_wkt))
    inverse = ~Affine(*info.transform)
    rings_px: list[np.ndarray] = []
    owner: list[int] = []  # feature row of each ring (a multipolygon gives several)
    for k, (fid, geom) in enumerate(zip(frame.index, frame.geometry, strict=True)):
        parts = _rings_px(geom, inverse, features.path, fid)
        rings_px += parts
        owner += [k] * len(parts)
    label_of_feature = [
        lookup.index(name, f"{features.path}: feature {fid}")
        for fid, name in zip(frame.index, names, strict=True)
    ]
    labels = np.asarray(label_of_feature, np.int64)[owner]
    return rings_px, labels, _difficulty(frame, features.path)[owner]


def _scene_sample(
    info: SceneInfo, features: _Features | None, names: list[str], lookup: ClassLookup
) -> Sample:
    """The objects of one scene in its pixel frame (rules in the module docstring)."""
    meta: dict[str, Any] = {
        "crs": info.crs_wkt,
        "transform": info.transform,
        "nodata": info.nodata,
        "dtype": info.dtype,
        "count": info.count,
        "labels_path": str(features.path) if features else None,
        "outside": 0,
    }
    sample = Sample(
        info.path.stem,
        info.height,
        info.width,
        np.zeros((0, 4, 2)),
        np.zeros(0),
        image_path=info.path,
        meta=meta,
    )
    if features is None or len(features.frame) == 0:
        return sample
    rings_px, labels, difficulty = _objects_px(features, names, lookup, info)
    clipped = WindowClipper(quads_from_rings(rings_px)).clip(0, 0, info.width, info.height)
    if len(clipped.index) == 0:
        raise DatasetError(
            f"{features.path}: none of the {len(rings_px)} label polygons for scene "
            f"{info.path.name} overlaps it; check the CRS of both files"
        )
    meta["outside"] = len(rings_px) - len(clipped.index)
    difficulty = difficulty[clipped.index]
    difficulty[clipped.inside < DEFAULT_IOF_THR] = TRUNCATED
    return dataclasses.replace(
        sample, polygons=clipped.polygons, labels=labels[clipped.index], difficulty=difficulty
    )


def _per_scene_features(
    scenes: dict[str, Path], folder: Path, options: GeoOptions, single: str | None
) -> dict[str, _Features]:
    # One scene (possibly picked by file name): other files in its folder are ignored.
    files = _vector_files(folder, scenes if len(scenes) == 1 else None)
    if not files:
        return {}
    for stem, path in files.items():
        if stem not in scenes:
            raise DatasetError(f"{path}: no scene {stem}.tif for this labels file")
    for stem, path in scenes.items():
        if stem not in files:
            raise DatasetError(
                f"{path}: no labels file {stem}{{{','.join(VECTOR_SUFFIXES)}}} in {folder}"
            )
    out = {}
    for stem, path in files.items():
        frame = _read_vector(path, options.layer)
        out[stem] = _Features(path, frame, _class_field(frame, path, options.class_field, single))
    return out


def _collect_features(
    scenes: dict[str, Path], base: Path, scene_dir: Path, options: GeoOptions, single: str | None
) -> tuple[dict[str, _Features], bool, Path | None]:
    """Features per scene stem, whether any labels exist, and the single labels file."""
    named = [base / f"labels{s}" for s in VECTOR_SUFFIXES if (base / f"labels{s}").is_file()]
    labels_file = options.labels or (named[0] if named else None)
    if labels_file is not None:
        frame = _read_vector(labels_file, options.layer)
        field = _class_field(frame, labels_file, options.class_field, single)
        return _assign_features(frame, labels_file, scenes, options, field), True, labels_file
    folder = base / "labels" if (base / "labels").is_dir() else scene_dir
    features = _per_scene_features(scenes, folder, options, single)
    return features, bool(features), None


def read_geo(path: Path, options: GeoOptions | None = None) -> Dataset:
    """Load GeoTIFF scenes and their vector labels (rules in the module docstring)."""
    options = options or GeoOptions()
    scenes, base, scene_dir = _find_scenes(path)
    classes_txt = base / "classes.txt"
    fixed = read_classes_file(classes_txt) if classes_txt.is_file() else None
    single = fixed[0] if fixed is not None and len(fixed) == 1 else options.default_class
    features, labelled, labels_file = _collect_features(scenes, base, scene_dir, options, single)
    names = {stem: _names(f, single) for stem, f in features.items()}
    classes = fixed or tuple(sorted({n for scene in names.values() for n in scene}))
    lookup = ClassLookup(classes)
    samples = [
        _scene_sample(scene_info(p), features.get(stem), names.get(stem, []), lookup)
        for stem, p in scenes.items()
    ]
    return Dataset(
        format="geo",
        version="",
        classes=classes,
        box_type="rbox",
        root=base,
        samples=samples,
        labelled=labelled,
        meta={"labels": labels_file},
    )
