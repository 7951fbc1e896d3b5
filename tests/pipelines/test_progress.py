"""Progress where no terminal draws a bar (logs, CI, clusters): plain lines with speed and ETA."""

import io
import re

import yaml
from rich.console import Console
from rsdet.cli.main import app
from rsdet.pipelines.progress import LinesProgress, PlainLines, format_duration, make_progress
from rsdet.pipelines.train import ProgressReporter
from typer.testing import CliRunner

from tests.engine.fake_network import register_fake, tiny_recipe_dict


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def plain_lines(every: float = 30.0) -> tuple[PlainLines, io.StringIO, FakeClock]:
    out, clock = io.StringIO(), FakeClock()
    console = Console(file=out, width=300, force_terminal=False, color_system=None)
    return PlainLines(console, every=every, clock=clock), out, clock


def test_a_line_at_the_first_step_every_interval_and_the_last_step():
    lines, out, clock = plain_lines(every=30.0)
    lines.begin("epoch 2/5", total=100, done=0)
    for _ in range(100):
        clock.now += 1.0  # 1 it/s
        lines.advance({"loss": 1.5, "lr": 1e-3, "it/s": 1.0})
    printed = out.getvalue().splitlines()
    assert [re.search(r" (\d+)/100 ", p)[1] for p in printed] == ["1", "31", "61", "91", "100"]
    assert printed[1] == (
        "epoch 2/5 31/100 loss 1.5 lr 1.00e-03 1.00 it/s eta 1m09s (run 6m09s)"
    )  # 69 s left in this epoch, then 3 more epochs of 100 s


def test_a_resumed_phase_counts_speed_from_where_it_began():
    lines, out, clock = plain_lines()
    lines.begin("validate", total=10, done=6)
    clock.now += 2.0
    lines.advance({})
    assert out.getvalue().strip() == "validate 7/10 0.50 it/s eta 6s"


def test_durations_read_like_a_clock():
    assert [format_duration(s) for s in (12.4, 161, 4210)] == ["12s", "2m41s", "1h10m"]


def test_the_reporter_uses_plain_lines_when_stderr_is_no_terminal():
    assert ProgressReporter(quiet=False).plain is not None  # pytest captures stderr
    assert ProgressReporter(quiet=True).plain is None


def test_training_in_a_log_prints_iteration_loss_speed_and_eta(tmp_path, monkeypatch):
    register_fake(monkeypatch)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe_dict()))
    r = CliRunner().invoke(app, ["train", "--recipe", str(recipe), "--out", str(tmp_path / "run"),
                                 "--epochs", "1", "--batch-size", "2", "--device", "cpu",
                                 "--set", "data.windows_per_epoch=4"])  # fmt: skip
    assert r.exit_code == 0, r.output
    progress = [
        line for line in r.stderr.splitlines() if line.startswith("epoch ") and "eta" in line
    ]
    assert re.fullmatch(
        r"epoch 1/1 1/2 loss \S+ lr \S+ [\d.]+ it/s eta \S+ \(run \S+\)", progress[0]
    ), progress
    assert progress[-1].startswith("epoch 1/1 2/2 ")  # the last step too


def lines_progress(every: float = 30.0) -> tuple[LinesProgress, io.StringIO, FakeClock]:
    out, clock = io.StringIO(), FakeClock()
    console = Console(file=out, width=300, force_terminal=False, color_system=None)
    return LinesProgress(console, every=every, clock=clock), out, clock


def test_detect_style_tasks_print_first_periodic_and_final_lines_without_a_bar():
    progress, out, clock = lines_progress(every=30.0)
    with progress:
        task = progress.add_task("scene.tif", total=4, objects=0, rate="-")
        progress.update(task, advance=1, objects=3, rate="2.0")  # first step: a line
        clock.now += 10
        progress.update(task, advance=1, objects=5, rate="2.0")  # too soon: none
        clock.now += 25
        progress.update(task, advance=1, objects=9, rate="2.1")  # 35 s after the first: a line
        progress.update(task, advance=1, objects=12, rate="2.2")  # last step: a line
        progress.update(task, objects=12)  # after completion: nothing more
    lines = out.getvalue().splitlines()
    assert [line.split()[:4] for line in lines] == [
        ["scene.tif", "1/4", "objects", "3"],
        ["scene.tif", "3/4", "objects", "9"],
        ["scene.tif", "4/4", "objects", "12"],
    ]
    assert "rate 2.2" in lines[-1] and "\x1b" not in out.getvalue()  # plain text, no bar


def test_make_progress_writes_lines_off_a_terminal_and_nothing_when_quiet():
    # pytest captures stderr: not a terminal.
    assert isinstance(make_progress(), LinesProgress)
    assert not isinstance(make_progress(quiet=True), LinesProgress)
