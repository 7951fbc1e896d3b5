"""rsdet's ONNX metadata: written as JSON text, read back whole, refused with one line."""

import json

import pytest

from rsdet.errors import InputError
from rsdet.export.metadata import FORMAT, OnnxMetadata, RawField, read_props, write_props
from rsdet.models.spec import InputSpec, ModelSpec


def _meta():
    spec = ModelSpec(
        arch="dcfl",
        classes=("plane", "ship"),
        box_type="rbox",
        input=InputSpec(bands=(4, 3, 2), low=(0.0,), high=(10000.0,), gsd_m=0.5),
        tile_size=800,
    )
    fields = (RawField("cls_logits", 5), RawField("deltas", 5))
    return OnnxMetadata(spec, {"backbone": "csp-n", "num_classes": 2}, "rsdet", fields, "note")


def test_metadata_round_trips_through_json_strings():
    meta = _meta()
    props = write_props(meta)
    assert all(isinstance(v, str) for v in props.values())
    assert json.loads(props["rsdet_format"]) == FORMAT
    assert read_props(props, "m.onnx") == meta


def test_output_names_expand_per_level_lists():
    assert RawField("boxes").output_names() == ["boxes"]
    assert _meta().output_names()[:2] == ["cls_logits_0", "cls_logits_1"]
    assert len(_meta().output_names()) == 10


def test_a_file_without_rsdet_metadata_is_refused_naming_it():
    with pytest.raises(InputError, match=r"^m\.onnx: no rsdet metadata \(not written by rsdet"):
        read_props({"model_type": '"Detector"'}, "m.onnx")


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("rsdet_format", '"rsdet-onnx/9"', "format"),
        ("rsdet_spec", '{"arch": "dcfl"}', "classes"),
        ("rsdet_target", '"tflite"', "unknown target"),
        ("rsdet_outputs", "not json", "Expecting value"),
    ],
)
def test_bad_metadata_is_one_line_naming_the_file(key, value, why):
    props = write_props(_meta()) | {key: value}
    with pytest.raises(InputError, match=r"^m\.onnx: invalid rsdet metadata") as err:
        read_props(props, "m.onnx")
    assert why in str(err.value) and "\n" not in str(err.value)
