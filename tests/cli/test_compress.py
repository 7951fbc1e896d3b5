"""``rsdet compress`` through the real CLI; a damaged file is one line for ``rsdet info``."""

import json

import pytest
from rsdet.cli.main import app
from typer.testing import CliRunner

pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args):
    return CliRunner().invoke(app, [*map(str, args)])


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_compress_writes_the_file_and_reports_each_stage_as_json(tmp_path):
    out = tmp_path / "small.rsdz"
    result = run(
        "compress", "trees", "--prune", "0.9", "--bits", "conv=4,fc=4", "--out", out, "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [s["name"] for s in summary["stages"]] == ["original", "pruned", "quantized", "huffman"]
    assert summary["bytes"] == out.stat().st_size and summary["stages"][-1]["ratio"] > 15
    assert summary["settings"]["bits"] == {"conv": 4, "fc": 4}


def test_the_table_is_printed_and_bad_input_is_one_line(tmp_path):
    out = tmp_path / "small.rsdz"
    result = run("compress", "trees", "--out", out)
    assert result.exit_code == 0, result.output
    assert "huffman" in result.stderr and f"Wrote {out}" in result.stderr
    assert_user_error(run("compress", "trees", "--out", out), "small.rsdz: already exists")
    assert_user_error(
        run("compress", "trees", "--bits", "5", "--out", tmp_path / "b.rsdz"), "--bits 5"
    )
    broken = tmp_path / "broken.rsdz"
    broken.write_bytes(out.read_bytes()[:-100])
    assert_user_error(run("info", broken), "broken.rsdz", "checksum mismatch")
