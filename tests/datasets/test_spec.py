from pathlib import Path

import pytest

from rsdet.datasets import DatasetError, DatasetSpec, SpecError, load_dataset, parse_spec


def test_format_path_and_options_are_split():
    spec = parse_spec("DIOR-R:/data/DIOR?split=test&x=a b")
    assert spec == DatasetSpec("dior-r", Path("/data/DIOR"), {"split": "test", "x": "a b"})
    assert str(spec) == "dior-r:/data/DIOR?split=test&x=a b"


def test_path_may_contain_colons():
    assert parse_spec("geo:C:/scenes").path == Path("C:/scenes")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("/data/DOTA", "expected FORMAT:PATH"),
        ("dota:", "path after dota: is empty"),
        ("dior:/d?split", "not of the form key=value"),
        ("dior:/d?split=a&split=b", "given twice"),
    ],
)
def test_malformed_specs_say_what_is_wrong(text, fragment):
    with pytest.raises(SpecError, match=fragment):
        parse_spec(text)


def test_unknown_format_lists_the_known_ones(tmp_path):
    with pytest.raises(SpecError) as err:
        load_dataset(f"dotaa:{tmp_path}")
    msg = str(err.value)
    assert "unknown format 'dotaa'" in msg
    for name in ("dota", "dota1.5", "dota2", "aitod", "dior", "dior-r", "voc", "geo"):
        assert name in msg
    assert "\n" not in msg


def test_unknown_or_empty_option_is_an_error(tmp_path):
    with pytest.raises(SpecError, match=r"unknown option 'splt' for dior .*options: split"):
        load_dataset(f"dior:{tmp_path}?splt=test")
    with pytest.raises(SpecError, match="option 'split' has no value"):
        load_dataset(f"dior:{tmp_path}?split=")


def test_missing_path_is_named(tmp_path):
    with pytest.raises(DatasetError, match="nothere: not found"):
        load_dataset(f"dota:{tmp_path / 'nothere'}")
