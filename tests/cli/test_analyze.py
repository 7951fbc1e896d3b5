"""``rsdet analyze sparsity`` through the real CLI."""

import json

import pytest
from rsdet.cli.main import app
from typer.testing import CliRunner

pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args):
    return CliRunner().invoke(app, [*map(str, args)])


def test_sparsity_json_and_table():
    data = "synthetic:?n=1&size=64&seed=1&kind=trees"
    result = run("analyze", "sparsity", "trees", "--data", data, "--eps", "0,0.05", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [row["eps"] for row in report["curve"]] == [0.0, 0.05]
    table = run("analyze", "sparsity", "trees", "--data", data, "--eps", "0.05")
    assert table.exit_code == 0, table.output
    assert "dynamic pruning" in table.stderr and "| 0.05 |" in table.stderr


def test_bad_input_is_one_line():
    for args, fragment in (
        (["trees", "--eps", "x"], "--eps 'x'"),
        (["no_such.pt"], "no_such.pt: no such model file"),
    ):
        result = run("analyze", "sparsity", *args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and fragment in errors[0], result.stderr
