"""Pascal VOC annotation files: parse and write ``<object>`` entries (HBB and DIOR-R OBB).

Coordinates are taken as written, as continuous pixel coordinates (no ``-1``/``+1``
adjustment, like mmrotate's and BboxToolkit's DIOR loaders), so files round-trip exactly.

* ``bndbox`` ``xmin ymin xmax ymax`` -> polygon TL, TR, BR, BL.
* DIOR-R ``robndbox`` ``x_left_top y_left_top x_right_top ... y_left_bottom`` -> polygon
  left-top, right-top, right-bottom, left-bottom (clockwise on screen).
* ``difficult``: 0 or 1 (VOC), or 2 for objects cut by a patch border (an rsdet extension
  that VOC tools read as "difficult"); absent means 0. ``truncated`` is not read: in VOC it
  means "partly hidden in the photo", not "cut by a patch border".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from rsdet.datasets.errors import LabelError, where
from rsdet.datasets.xml_tree import XmlNode, parse_xml

__all__ = ["VocFile", "VocObject", "format_voc_xml", "parse_voc_xml"]

_HBB_FIELDS = ("xmin", "ymin", "xmax", "ymax")
_OBB_FIELDS = (
    "x_left_top",
    "y_left_top",
    "x_right_top",
    "y_right_top",
    "x_right_bottom",
    "y_right_bottom",
    "x_left_bottom",
    "y_left_bottom",
)


@dataclass
class VocObject:
    """One ``<object>``: class ``name``, (4, 2) ``polygon`` in pixels, ``difficult``, ``line``."""

    name: str
    polygon: np.ndarray
    difficult: int
    line: int


@dataclass
class VocFile:
    """One annotation file: declared image ``filename`` and size (None when absent or 0)."""

    path: Path
    filename: str | None
    height: int | None
    width: int | None
    objects: list[VocObject]


def _number(node: XmlNode, tag: str, path: Path) -> float:
    text = node.findtext(tag)
    if text is None:
        raise LabelError(f"{where(path, node.line)}: <{node.tag}> has no <{tag}>")
    try:
        value = float(text)
    except ValueError:
        raise LabelError(f"{where(path, node.line)}: <{tag}> is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise LabelError(f"{where(path, node.line)}: <{tag}> is not finite: {text!r}")
    return value


def _polygon(obj: XmlNode, path: Path, oriented: bool) -> np.ndarray:
    tag = "robndbox" if oriented else "bndbox"
    box = obj.find(tag)
    if box is None:
        raise LabelError(f"{where(path, obj.line)}: <object> has no <{tag}>")
    if oriented:
        return np.array([_number(box, f, path) for f in _OBB_FIELDS]).reshape(4, 2)
    x1, y1, x2, y2 = (_number(box, f, path) for f in _HBB_FIELDS)
    if x2 < x1 or y2 < y1:
        raise LabelError(f"{where(path, box.line)}: xmax < xmin or ymax < ymin in <bndbox>")
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


def _difficult(obj: XmlNode, path: Path) -> int:
    text = obj.findtext("difficult")
    if text in (None, ""):
        return 0
    if text not in ("0", "1", "2"):
        raise LabelError(f"{where(path, obj.line)}: <difficult> must be 0, 1 or 2, got {text!r}")
    return int(text)


def _size(root: XmlNode, tag: str) -> int | None:
    size = root.find("size")
    text = size.findtext(tag) if size is not None else None
    try:
        value = int(float(text)) if text else 0
    except ValueError:
        return None
    return value if value > 0 else None


def parse_voc_xml(path: Path, oriented: bool = False) -> VocFile:
    """Read a VOC (``oriented=False``) or DIOR-R (``oriented=True``) annotation file.

    Raises:
        LabelError: malformed XML, a missing name or box field, or a non-numeric value.
    """
    root = parse_xml(path)
    objects = []
    for obj in root.findall("object"):
        name = obj.findtext("name")
        if not name:
            raise LabelError(f"{where(path, obj.line)}: <object> has no <name>")
        objects.append(
            VocObject(name, _polygon(obj, path, oriented), _difficult(obj, path), obj.line)
        )
    filename = root.findtext("filename") or None
    return VocFile(path, filename, _size(root, "height"), _size(root, "width"), objects)


def _fmt(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _object_xml(name: str, polygon: np.ndarray, difficult: int, oriented: bool) -> list[str]:
    lines = ["\t<object>", f"\t\t<name>{escape(name)}</name>", "\t\t<pose>Unspecified</pose>"]
    lines += ["\t\t<truncated>0</truncated>", f"\t\t<difficult>{difficult}</difficult>"]
    if oriented:
        values = polygon.reshape(8)
        lines += ["\t\t<type>robndbox</type>", "\t\t<robndbox>"]
        lines += [
            f"\t\t\t<{f}>{_fmt(float(v))}</{f}>" for f, v in zip(_OBB_FIELDS, values, strict=True)
        ]
        lines.append("\t\t</robndbox>")
    else:
        lo, hi = polygon.min(axis=0), polygon.max(axis=0)
        values = np.array([lo[0], lo[1], hi[0], hi[1]])
        lines.append("\t\t<bndbox>")
        lines += [
            f"\t\t\t<{f}>{_fmt(float(v))}</{f}>" for f, v in zip(_HBB_FIELDS, values, strict=True)
        ]
        lines.append("\t\t</bndbox>")
    return [*lines, "\t</object>"]


def format_voc_xml(
    filename: str,
    size: tuple[int, int, int],
    polygons: np.ndarray,
    labels: np.ndarray,
    difficulty: np.ndarray,
    classes: Sequence[str],
    oriented: bool = False,
) -> str:
    """Text of a VOC annotation file.

    Args:
        filename: the image file name written in ``<filename>``.
        size: ``(height, width, depth)`` of the image.
        polygons: (N, 4, 2) pixels; written as their envelope (``bndbox``) or, with
            ``oriented``, as the 4 DIOR-R corners in the given order (``robndbox``).
        labels: (N,) indices into ``classes``; difficulty: (N,) 0, 1 or 2.
    """
    height, width, depth = size
    lines = ["<annotation>", f"\t<filename>{escape(filename)}</filename>", "\t<size>"]
    lines += [f"\t\t<width>{width}</width>", f"\t\t<height>{height}</height>"]
    lines += [f"\t\t<depth>{depth}</depth>", "\t</size>"]
    for poly, label, diff in zip(polygons, labels, difficulty, strict=True):
        lines += _object_xml(classes[int(label)], poly, int(diff), oriented)
    lines.append("</annotation>")
    return "".join(f"{line}\n" for line in lines)
