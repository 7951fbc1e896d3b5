"""16-bit scenes and the model's value range: refused at start, or scaled with --scale."""

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rsdet.cli.main import app
from rsdet.pipelines.detect_scene import detect_scene
from typer.testing import CliRunner

from rsdet.errors import InputError
from rsdet.synthetic import make_scene, write_geotiff


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """The same synthetic tree scene as 8-bit RGB and as 4-band uint16 up to 10,000."""
    folder = tmp_path_factory.mktemp("range")
    rgb = folder / "rgb.tif"
    write_geotiff(make_scene(5, 384, "trees", None), rgb)
    with rasterio.open(rgb) as src:
        profile, data = src.profile, src.read().astype(np.float64)
    wide = np.round(np.concatenate([data, data[:1]]) * (10_000 / 255)).astype(np.uint16)
    profile.update(count=4, dtype="uint16", photometric="minisblack")
    u16 = folder / "u16.tif"
    with rasterio.open(u16, "w", **profile) as dst:
        dst.write(wide)
    return str(rgb), str(u16)


def test_a_16_bit_scene_is_refused_at_start_with_the_fix(scenes):
    with pytest.raises(InputError) as err:
        detect_scene(scenes[1], "trees")
    message = str(err.value)
    assert message.startswith(f"{scenes[1]}: band 1 (uint16) has values up to")
    assert "the model's range 0..255" in message and "--scale" in message


def test_the_cli_refuses_in_one_line_and_names_the_fix(scenes, tmp_path):
    result = CliRunner().invoke(app, ["detect", scenes[1], "--out", str(tmp_path / "o.gpkg")])
    assert result.exit_code != 0
    assert "--scale" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.gpkg").exists()


def test_scale_override_finds_the_objects_of_the_8_bit_scene(scenes, tmp_path):
    eight = detect_scene(scenes[0], "trees")
    out = tmp_path / "wide.gpkg"
    args = ["detect", scenes[1], "--out", str(out), "--bands", "1,2,3", "--scale", "0,10000"]
    assert CliRunner().invoke(app, [*args, "--quiet"]).exit_code == 0
    wide = gpd.read_file(out, layer="wide")
    assert len(eight) > 10 and len(wide) == len(eight)
    for a, b in zip(eight.geometry, wide.geometry, strict=True):
        assert np.abs(np.array(a.bounds) - np.array(b.bounds)).max() < 0.02  # metres
    assert np.abs(eight.score.to_numpy() - wide.score.to_numpy()).max() < 0.01
    # the model's own 0..255 on the raw 16-bit values: nothing (what the check prevents)
    assert len(detect_scene(scenes[1], "trees", bands=(1, 2, 3), range_check=False)) == 0


def test_bad_scale_options_are_one_line_errors(scenes, tmp_path):
    out = str(tmp_path / "o.gpkg")
    for scale, message in [("0", "--scale '0'"), ("0,1,0,1", "2 LOW,HIGH pairs for 3 bands")]:
        result = CliRunner().invoke(app, ["detect", scenes[0], "--out", out, "--scale", scale])
        assert result.exit_code != 0 and message in result.output
        assert "Traceback" not in result.output

    class RawValues:  # a predict() object scales pixels itself: --scale does not apply
        def predict(self, image):
            return np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)

    with pytest.raises(InputError, match="takes raw pixel values"):
        detect_scene(scenes[0], RawValues(), scale="0,255")
