import pytest

from rsdet.config import ConfigError, from_dict
from rsdet.models.spec import InputSpec


def test_per_band_values_broadcast_from_one_value():
    spec = InputSpec(bands=(1, 2, 3, 4), low=(0.0,), high=(10000.0,), mean=(0.5,), std=(0.25,))
    low, high = spec.fixed_range()
    mean, std = spec.standardisation()
    assert low.tolist() == [0.0] * 4 and high.tolist() == [10000.0] * 4
    assert mean.tolist() == [0.5] * 4 and std.tolist() == [0.25] * 4


def test_rgb_defaults_with_four_bands_is_a_clear_config_error():
    # The default mean/std are the 3 ImageNet RGB values: a 4-band model must say its own.
    with pytest.raises(ConfigError, match=r"input\.mean: 3 values for 4 bands"):
        InputSpec(bands=(1, 2, 3, 4))
    with pytest.raises(ConfigError, match=r"input\.mean: 3 values for 4 bands"):
        from_dict(InputSpec, {"bands": [1, 2, 3, 4]})


def test_non_positive_std_and_no_bands_are_rejected():
    with pytest.raises(ConfigError, match="std"):
        InputSpec(std=(0.2, 0.0, 0.2))
    with pytest.raises(ConfigError, match="at least one band"):
        InputSpec(bands=(), low=(0.0,), high=(1.0,), mean=(0.5,), std=(0.5,))
