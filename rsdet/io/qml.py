"""QGIS layer style (``.qml``) for detection layers: one outline colour per class, score labels.

QGIS loads ``<name>.qml`` automatically when it opens the file layer ``<name>.<ext>`` next
to it, and a GeoPackage's ``layer_styles`` table (see :mod:`rsdet.io.vector`). The style:

* a categorised renderer on ``class_name``, one category per model class in class order
  (so colours stay the same across runs and scenes) plus a grey catch-all category;
* boxes drawn as coloured outlines with no fill, so the imagery stays visible;
* labels showing the score with two decimals, drawn only for boxes at least
  ``LABEL_MIN_PX`` screen pixels wide (a data-defined *Show* rule on
  ``@map_units_per_pixel``, so it works in any CRS, in degrees, and in the pixel frame of
  scenes without a CRS, where a 1:N scale rule never fires), best scores first where labels
  would collide (a data-defined *Priority*), never overlapping each other: at the
  whole-scene view of a dense scene the boxes are a few pixels wide and no label is drawn.

The XML follows what QGIS 3 writes and reads (``QgsCategorizedSymbolRenderer``,
``QgsSimpleFillSymbolLayer`` options, ``QgsPalLayerSettings::readXml``).
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from xml.etree import ElementTree as ET

__all__ = ["LABEL_MIN_PX", "class_colors", "label_show_expression", "qml_style"]

LABEL_MIN_PX = 16
_QGIS_VERSION = "3.28.0-Firenze"
_OTHER_COLOR = (160, 160, 160)
# Golden-ratio hue steps give distinct colours for any number of classes.
_GOLDEN = 0.618033988749895


def class_colors(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct, saturated RGB colours (deterministic; the first is red-orange)."""
    colors = []
    for k in range(n):
        hue = (0.02 + k * _GOLDEN) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, 0.9, 1.0)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
    return colors


def qml_style(classes: Sequence[str]) -> str:
    """The complete ``.qml`` document (UTF-8 XML text) for a layer of these classes."""
    root = ET.Element(
        "qgis",
        {"version": _QGIS_VERSION, "styleCategories": "Symbology|Labeling", "labelsEnabled": "1"},
    )
    root.append(_renderer(classes))
    root.append(_labeling())
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"


def _renderer(classes: Sequence[str]) -> ET.Element:
    renderer = ET.Element(
        "renderer-v2",
        {
            "type": "categorizedSymbol",
            "attr": "class_name",
            "symbollevels": "0",
            "enableorderby": "0",
            "forceraster": "0",
            "referencescale": "-1",
        },
    )
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    entries = [*zip(classes, class_colors(len(classes)), strict=True), ("", _OTHER_COLOR)]
    for i, (name, color) in enumerate(entries):
        label = name if name else "other"
        ET.SubElement(
            categories,
            "category",
            {"value": name, "symbol": str(i), "label": label, "render": "true", "type": "string"},
        )
        symbols.append(_outline_symbol(str(i), color))
    return renderer


def _outline_symbol(name: str, color: tuple[int, int, int]) -> ET.Element:
    symbol = ET.Element(
        "symbol",
        {"type": "fill", "name": name, "alpha": "1", "clip_to_extent": "1", "force_rhr": "0"},
    )
    layer = ET.SubElement(
        symbol, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"}
    )
    rgb = ",".join(str(c) for c in color)
    options = {
        "color": f"{rgb},0",
        "style": "no",
        "outline_color": f"{rgb},255",
        "outline_style": "solid",
        "outline_width": "0.5",
        "outline_width_unit": "MM",
        "joinstyle": "miter",
        "offset": "0,0",
        "offset_unit": "MM",
    }
    layer.append(_option_map(options))
    return symbol


def _option_map(values: dict[str, str]) -> ET.Element:
    node = ET.Element("Option", {"type": "Map"})
    for key, value in values.items():
        ET.SubElement(node, "Option", {"type": "QString", "name": key, "value": value})
    return node


def label_show_expression(min_px: int = LABEL_MIN_PX) -> str:
    """QGIS expression: true when the feature's box is at least ``min_px`` screen pixels wide.

    The box is measured in the map's CRS (transformed from the layer's; the layer's own
    extent when the transform fails, as for layers without a CRS, which QGIS draws in
    their own units) and divided by the size of a screen pixel in map units.
    """
    on_map = "bounds_width(transform($geometry, @layer_crs, @map_crs))"
    return f"coalesce({on_map}, bounds_width($geometry)) / @map_units_per_pixel >= {min_px}"


def _data_defined(properties: dict[str, str]) -> ET.Element:
    """``<dd_properties>``: expression-based label properties (QgsProperty type 3)."""
    root = ET.Element("dd_properties")
    collection = ET.SubElement(root, "Option", {"type": "Map"})
    ET.SubElement(collection, "Option", {"type": "QString", "name": "name", "value": ""})
    props = ET.SubElement(collection, "Option", {"type": "Map", "name": "properties"})
    for name, expression in properties.items():
        prop = ET.SubElement(props, "Option", {"type": "Map", "name": name})
        ET.SubElement(prop, "Option", {"type": "bool", "name": "active", "value": "true"})
        ET.SubElement(
            prop, "Option", {"type": "QString", "name": "expression", "value": expression}
        )
        ET.SubElement(prop, "Option", {"type": "int", "name": "type", "value": "3"})
    ET.SubElement(collection, "Option", {"type": "QString", "name": "type", "value": "collection"})
    return root


def _labeling() -> ET.Element:
    labeling = ET.Element("labeling", {"type": "simple"})
    settings = ET.SubElement(labeling, "settings", {"calloutType": "simple"})
    style = ET.SubElement(
        settings,
        "text-style",
        {
            "fieldName": 'format_number("score", 2)',
            "isExpression": "1",
            "fontSize": "7",
            "fontSizeUnit": "Point",
            "textColor": "255,255,255,255",
            "textOpacity": "1",
        },
    )
    ET.SubElement(
        style,
        "text-buffer",
        {
            "bufferDraw": "1",
            "bufferSize": "0.6",
            "bufferSizeUnits": "MM",
            "bufferColor": "0,0,0,255",
            "bufferOpacity": "0.8",
            "bufferNoFill": "1",
        },
    )
    ET.SubElement(settings, "text-format", {"wrapChar": "", "multilineAlign": "0"})
    ET.SubElement(
        settings,
        "placement",
        {
            "placement": "1",
            "quadOffset": "1",
            "dist": "0",
            "fitInPolygonOnly": "0",
            "priority": "5",
        },
    )
    ET.SubElement(
        settings,
        "rendering",
        {
            "drawLabels": "1",
            "scaleVisibility": "0",
            "displayAll": "0",
            "obstacle": "0",
            "upsidedownLabels": "0",
        },
    )
    # Priority 0-10: higher scores win the place where labels collide.
    priority = 'round(10 * "score")'
    settings.append(_data_defined({"Show": label_show_expression(), "Priority": priority}))
    return labeling
