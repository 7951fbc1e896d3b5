"""``rsdet split`` on the command line: summary, --json, and one-line user errors."""

import json

from rsdet.cli.main import app
from typer.testing import CliRunner

from tests.datasets.conftest import write_image, write_text

runner = CliRunner()


def _dota(tmp_path):
    root = tmp_path / "dota"
    write_image(root / "images" / "P1.png", 40, 40)
    write_text(root / "labelTxt" / "P1.txt", "2 2 10 2 10 8 2 8 plane 0\n")
    return root


def test_json_summary_and_no_op_rerun(tmp_path):
    root, out = _dota(tmp_path), tmp_path / "out"
    args = ["split", f"dota:{root}", "--out", str(out), "--size", "32", "--gap", "8", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    # Windows start at 0 and 8: the plane (x 2..10) is whole in one, cut in the other.
    assert (report["patches"], report["images_written"], report["objects"]) == (4, 4, 2)
    again = json.loads(runner.invoke(app, args).stdout)
    assert (again["images_written"], again["labels_written"], again["images_skipped"]) == (0, 0, 4)


def test_rates_option_and_quiet(tmp_path):
    root, out = _dota(tmp_path), tmp_path / "out"
    args = ["split", f"dota:{root}", "-o", str(out), "--size", "32", "--gap", "8"]
    result = runner.invoke(app, [*args, "--rates", "0.5,1", "--quiet"])
    assert result.exit_code == 0 and result.output == ""
    assert sorted(p.stem for p in (out / "images").iterdir())[0] == "P1__0.5__0___0"


def test_user_errors_are_one_line_without_traceback(tmp_path):
    root = _dota(tmp_path)
    cases = [
        (["split", f"dotta:{root}", "--out", str(tmp_path / "o")], "unknown format 'dotta'"),
        (
            ["split", f"dota:{root}", "--out", str(tmp_path / "o"), "--rates", "a,b"],
            "--rates: expected",
        ),
        (
            ["split", f"dota:{root}", "--out", str(tmp_path / "o"), "--gap", "2000"],
            "--gap must be in",
        ),
    ]
    for args, fragment in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert fragment in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_existing_split_with_other_parameters_needs_overwrite(tmp_path):
    root, out = _dota(tmp_path), tmp_path / "out"
    base = ["split", f"dota:{root}", "--out", str(out), "--gap", "8", "-q"]
    assert runner.invoke(app, [*base, "--size", "32"]).exit_code == 0
    refused = runner.invoke(app, [*base, "--size", "16"])
    assert refused.exit_code == 2 and "use --overwrite" in refused.output
    assert runner.invoke(app, [*base, "--size", "16", "--overwrite"]).exit_code == 0
