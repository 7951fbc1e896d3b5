"""The ``synthetic`` format: load_dataset draws the same scenes as rsdet.synthetic."""

import dataclasses

import numpy as np
import pytest

from rsdet.datasets import FORMATS, SpecError, load_dataset, parse_spec
from rsdet.datasets.spec import GENERATED_FORMATS
from rsdet.datasets.synthetic import SYNTHETIC_OPTIONS
from rsdet.synthetic import CLASSES, SyntheticSpec, make_samples


@pytest.mark.parametrize("kind", ["trees", "vehicles", "mixed"])
def test_load_dataset_gives_the_samples_of_make_samples(kind):
    ds = load_dataset(f"synthetic:?n=3&size=64&seed=2&kind={kind}&nodata=2")
    expected = make_samples(SyntheticSpec(n=3, size=64, seed=2, kind=kind, nodata=2))
    assert [s.image_id for s in ds.samples] == [s.image_id for s in expected]
    for got, want in zip(ds.samples, expected, strict=True):
        assert np.array_equal(got.image, want.image)
        assert np.array_equal(got.polygons, want.polygons)
        assert np.array_equal(got.labels, want.labels)
        assert (got.height, got.width) == (64, 64)
    assert (ds.format, ds.classes, ds.labelled) == ("synthetic", CLASSES[kind], True)
    assert ds.box_type == ("hbox" if kind == "trees" else "rbox")
    assert ds.spec == f"synthetic:?n=3&size=64&seed=2&kind={kind}&nodata=2"


def test_scenes_keep_seed_order_and_options_are_the_spec_fields():
    ds = load_dataset("synthetic:?n=11&size=16&seed=0&kind=vehicles")
    assert ds.samples[2].image_id == "synthetic_vehicles_2"  # not sorted: _10 stays last
    assert ds.samples[-1].image_id == "synthetic_vehicles_10"
    assert SYNTHETIC_OPTIONS == tuple(f.name for f in dataclasses.fields(SyntheticSpec))
    assert FORMATS["synthetic"].options == SYNTHETIC_OPTIONS
    assert GENERATED_FORMATS <= set(FORMATS)


def test_spec_has_no_path():
    spec = parse_spec("synthetic:?n=8&size=256")
    assert (spec.format, spec.path, spec.options) == ("synthetic", None, {"n": "8", "size": "256"})
    assert str(spec) == "synthetic:?n=8&size=256"
    assert str(parse_spec("synthetic:")) == "synthetic:"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("synthetic:scenes?n=2", "takes no path"),
        ("synthetic:?sizee=64", "unknown option 'sizee' for synthetic"),
        ("synthetic:?kind=boats", "kind: expected one of"),
        ("synthetic:?n=two", "n: expected an integer"),
        ("synthetic:?n=1&size=8", "too small"),
    ],
)
def test_bad_specs_are_one_line_spec_errors(text, fragment):
    with pytest.raises(SpecError, match=fragment) as err:
        load_dataset(text)
    assert "\n" not in str(err.value)
