"""``load_dataset``: the one entry point from a spec string to a :class:`Dataset`.

``FORMATS`` is the single table of format names; each entry says which reader runs, which
``?key=value`` options it accepts and how ``rsdet split`` writes its patches. Generated
formats (``synthetic``) take no path (:data:`rsdet.datasets.spec.GENERATED_FORMATS`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rsdet.datasets.coco import read_aitod
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.dior import read_dior
from rsdet.datasets.dota import read_dota
from rsdet.datasets.errors import DatasetError, SpecError
from rsdet.datasets.geo import GeoOptions, read_geo
from rsdet.datasets.geo_tiles import GeoTileWriter
from rsdet.datasets.patch_writers import (
    CocoPatchWriter,
    DotaPatchWriter,
    PatchWriter,
    VocPatchWriter,
)
from rsdet.datasets.spec import GENERATED_FORMATS, DatasetSpec, parse_spec
from rsdet.datasets.synthetic import SYNTHETIC_OPTIONS, read_synthetic
from rsdet.datasets.voc import read_voc

__all__ = ["FORMATS", "DatasetFormat", "find_format", "load_dataset"]

Options = dict[str, str]


@dataclass(frozen=True)
class DatasetFormat:
    """One row of the format table.

    Attributes:
        read: ``read(path, options) -> Dataset`` (generated formats get ``Path()``).
        options: the ``?key=value`` keys it accepts.
        writer: builds the :class:`PatchWriter` that ``rsdet split`` uses for its patches;
            None when the format cannot be written back (``synthetic``).
        summary: one line for help texts.
    """

    read: Callable[[Path, Options], Dataset]
    options: tuple[str, ...]
    writer: Callable[[Path, Dataset], PatchWriter] | None
    summary: str


def _aitod(path: Path, options: Options) -> Dataset:
    if path.is_dir():
        raise DatasetError(
            f"{path}: an aitod spec names the COCO json file, e.g. "
            "aitod:aitod/annotations/small_test_v1_1.0.json"
        )
    images = options.get("images")
    return read_aitod(path, Path(images) if images else None)


def _geo(path: Path, options: Options) -> Dataset:
    labels = options.get("labels")
    return read_geo(
        path,
        GeoOptions(
            labels=Path(labels) if labels else None,
            scene_field=options.get("scene_field", "scene"),
            class_field=options.get("class_field"),
            layer=options.get("layer"),
        ),
    )


_GEO_OPTIONS = ("labels", "scene_field", "class_field", "layer")

FORMATS: dict[str, DatasetFormat] = {
    "dota": DatasetFormat(
        lambda p, o: read_dota(p, "1.0"), (), DotaPatchWriter, "DOTA v1.0: images/ + labelTxt/"
    ),
    "dota1.5": DatasetFormat(
        lambda p, o: read_dota(p, "1.5"), (), DotaPatchWriter, "DOTA v1.5 (16 classes)"
    ),
    "dota2": DatasetFormat(
        lambda p, o: read_dota(p, "2.0"), (), DotaPatchWriter, "DOTA v2.0 (18 classes)"
    ),
    "aitod": DatasetFormat(_aitod, ("images",), CocoPatchWriter, "AI-TOD v1/v2 COCO json"),
    "dior": DatasetFormat(
        lambda p, o: read_dior(p, False, o.get("split")),
        ("split",),
        VocPatchWriter,
        "DIOR, horizontal boxes",
    ),
    "dior-r": DatasetFormat(
        lambda p, o: read_dior(p, True, o.get("split")),
        ("split",),
        VocPatchWriter,
        "DIOR-R, oriented boxes",
    ),
    "voc": DatasetFormat(
        lambda p, o: read_voc(p, o.get("split")), ("split",), VocPatchWriter, "Pascal VOC xml"
    ),
    "geo": DatasetFormat(_geo, _GEO_OPTIONS, GeoTileWriter, "GeoTIFF scenes + vector labels"),
    "synthetic": DatasetFormat(
        lambda p, o: read_synthetic(o), SYNTHETIC_OPTIONS, None, "generated scenes, in memory"
    ),
}


def find_format(spec: DatasetSpec, text: str | None = None) -> DatasetFormat:
    """The row of :data:`FORMATS` for ``spec``'s format.

    Args:
        spec: the parsed spec.
        text: the spec as the user wrote it, for the message (default: ``str(spec)``).

    Raises:
        SpecError: unknown format (the message lists the known ones).
    """
    fmt = FORMATS.get(spec.format)
    if fmt is None:
        raise SpecError(
            f"dataset {text or str(spec)!r}: unknown format {spec.format!r}; known formats: "
            f"{', '.join(FORMATS)}"
        )
    return fmt


def load_dataset(spec: str | DatasetSpec) -> Dataset:
    """Load a dataset from ``FORMAT:PATH[?key=value&...]``.

    Formats: ``dota`` (= v1.0), ``dota1.5``, ``dota2``, ``aitod``, ``dior``, ``dior-r``,
    ``voc``, ``geo`` and ``synthetic`` (``synthetic:?n=8&size=256``: no path); the rules of
    each are in its module (:mod:`rsdet.datasets.dota`...) and in docs/datasets.md.

    Raises:
        SpecError: malformed spec, unknown format (the message lists the known ones),
            unknown or empty option.
        DatasetError: missing path, inconsistent layout, malformed label file (``LabelError``)
            or unreadable image header (``ImageError``); messages name the file.
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    fmt = find_format(parsed, str(spec))
    for key, value in parsed.options.items():
        if key not in fmt.options:
            allowed = ", ".join(fmt.options) or "none"
            raise SpecError(
                f"dataset {str(spec)!r}: unknown option {key!r} for {parsed.format} "
                f"(options: {allowed})"
            )
        if not value:
            raise SpecError(f"dataset {str(spec)!r}: option {key!r} has no value")
    if (parsed.path is None) != (parsed.format in GENERATED_FORMATS):
        parse_spec(str(parsed))  # a DatasetSpec built by hand: raises the parser's message
    if parsed.path is not None and not parsed.path.exists():
        raise DatasetError(f"{parsed.path}: not found (from dataset {str(spec)!r})")
    dataset = fmt.read(Path() if parsed.path is None else parsed.path, parsed.options)
    return dataclasses.replace(dataset, spec=str(parsed))
