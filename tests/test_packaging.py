"""The installed layout: every package is listed, and the CLI starts without torch."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(conf["tool"]["setuptools"]["packages"])
    found = {"rsdet.pipelines", "rsdet.cli", "rsdet.weights", "rsdet.pipelines.recipes"}
    for init in (ROOT / "rsdet").rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        found.add(".".join(rel.parts))
    assert found == listed, f"missing: {found - listed}, stale: {listed - found}"


def test_cli_help_does_not_import_torch():
    code = (
        "import sys; from rsdet.cli.main import app; "
        "from typer.testing import CliRunner; r = CliRunner().invoke(app, ['--help']); "
        "assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('torch', 'rasterio', 'geopandas', 'shapely', 'dask', 'distributed')"
        " if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
