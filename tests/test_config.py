from dataclasses import dataclass, field
from typing import Literal

import pytest

from rsdet.config import ConfigError, apply_overrides, from_dict, load_yaml, to_dict


@dataclass(frozen=True)
class Optim:
    lr: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: int = 10
    mode: Literal["fast", "slow"] = "fast"
    optim: Optim = field(default_factory=Optim)
    bands: tuple[int, ...] = (1, 2, 3)
    gsd: float | None = None


def test_round_trip():
    r = from_dict(Recipe, {"name": "x", "optim": {"lr": 1}, "bands": [4, 3, 2], "gsd": 0.1})
    assert r.optim.lr == 1.0 and isinstance(r.optim.lr, float)
    assert r.bands == (4, 3, 2)
    assert from_dict(Recipe, to_dict(r)) == r


def test_unknown_key_is_an_error_naming_the_path():
    with pytest.raises(ConfigError, match=r"optim\.lrr"):
        from_dict(Recipe, {"name": "x", "optim": {"lrr": 0.1}})


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"epochs: expected an integer"):
        from_dict(Recipe, {"name": "x", "epochs": "ten"})
    with pytest.raises(ConfigError, match=r"mode: expected one of"):
        from_dict(Recipe, {"name": "x", "mode": "medium"})
    with pytest.raises(ConfigError, match=r"optim\.betas: expected 2 items"):
        from_dict(Recipe, {"name": "x", "optim": {"betas": [0.9]}})


def test_missing_required_key():
    with pytest.raises(ConfigError, match="name: required"):
        from_dict(Recipe, {})


def test_overrides_parse_yaml_values():
    data = apply_overrides({"name": "x", "optim": {"lr": 0.1}}, ["optim.lr=0.5", "bands=[1, 2]"])
    r = from_dict(Recipe, data)
    assert r.optim.lr == 0.5 and r.bands == (1, 2)
    with pytest.raises(ConfigError):
        apply_overrides({}, ["no_equals_sign"])


def test_load_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "recipe.yaml"
    bad.write_text("name: x\nepohcs: 3\n")
    with pytest.raises(ConfigError, match=r"recipe\.yaml: unknown key epohcs"):
        load_yaml(Recipe, bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML"):
        load_yaml(Recipe, broken)
