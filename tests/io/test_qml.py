from xml.etree import ElementTree as ET

from rsdet.io.qml import LABEL_MIN_PX, class_colors, label_show_expression, qml_style


def parse(classes):
    text = qml_style(classes)
    assert text.startswith("<!DOCTYPE qgis")
    return ET.fromstring(text.split("\n", 1)[1])


def test_style_is_a_categorised_renderer_on_class_name():
    root = parse(["car", "ship", "storage-tank"])
    assert root.tag == "qgis" and root.get("labelsEnabled") == "1"
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "class_name"
    cats = renderer.findall("categories/category")
    assert [c.get("value") for c in cats] == ["car", "ship", "storage-tank", ""]  # + catch-all
    names = {s.get("name") for s in renderer.findall("symbols/symbol")}
    assert {c.get("symbol") for c in cats} == names  # every category has its symbol


def test_boxes_are_coloured_outlines_without_fill():
    root = parse(["car", "ship"])
    outlines = []
    for symbol in root.findall("renderer-v2/symbols/symbol"):
        assert symbol.get("type") == "fill"
        layer = symbol.find("layer")
        assert layer.get("class") == "SimpleFill"
        opts = {o.get("name"): o.get("value") for o in layer.findall("Option/Option")}
        assert opts["style"] == "no"
        outlines.append(opts["outline_color"])
    assert len(set(outlines)) == len(outlines)


def data_defined(settings):
    props = settings.find("dd_properties/Option/Option[@name='properties']")
    out = {}
    for prop in props:
        opts = {o.get("name"): o.get("value") for o in prop}
        assert opts["active"] == "true" and opts["type"] == "3"  # an expression
        out[prop.get("name")] = opts["expression"]
    return out


def test_labels_show_the_score_when_boxes_are_big_enough_on_screen():
    settings = parse(["car"]).find("labeling/settings")
    text = settings.find("text-style")
    assert text.get("isExpression") == "1" and '"score"' in text.get("fieldName")
    rendering = settings.find("rendering")
    # no 1:N scale rule: it never fires for a scene without a CRS (pixel units)
    assert rendering.get("scaleVisibility") == "0"
    assert rendering.get("displayAll") == "0"  # labels never overlap each other
    rules = data_defined(settings)
    assert rules["Show"] == label_show_expression()
    assert "@map_units_per_pixel" in rules["Show"] and f">= {LABEL_MIN_PX}" in rules["Show"]
    assert '"score"' in rules["Priority"]  # the best scores win where labels collide


def test_class_names_are_escaped():
    root = parse(['a "quoted" & <odd> name'])
    assert root.find("renderer-v2/categories/category").get("value") == 'a "quoted" & <odd> name'


def test_no_classes_still_gives_a_valid_style():
    cats = parse([]).findall("renderer-v2/categories/category")
    assert [c.get("value") for c in cats] == [""]


def test_colours_are_distinct_and_stable():
    colors = class_colors(20)
    assert len(set(colors)) == 20
    assert class_colors(3) == colors[:3]
    assert all(0 <= v <= 255 for c in colors for v in c)
