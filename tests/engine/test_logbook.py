"""metrics.csv grows new columns, survives resume; TensorBoard is used when importable."""

import csv
import sys
import types

from rsdet.engine.logbook import Logbook


def rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_new_columns_widen_the_file_and_resume_drops_unseen_epochs(tmp_path):
    book = Logbook(tmp_path, tensorboard=False)
    book.epoch({"epoch": 1, "iteration": 10, "loss": 2.0})
    book.epoch({"epoch": 2, "iteration": 20, "loss": 1.5, "val_AP": 0.1})
    book.epoch({"epoch": 3, "iteration": 30, "loss": 1.2})
    got = rows(tmp_path / "metrics.csv")
    assert list(got[0]) == ["epoch", "iteration", "loss", "val_AP"]
    assert [r["val_AP"] for r in got] == ["", "0.1", ""]
    resumed = Logbook(tmp_path, tensorboard=False, keep_epochs=2)
    resumed.epoch({"epoch": 3, "iteration": 30, "loss": 1.1})
    assert [r["loss"] for r in rows(tmp_path / "metrics.csv")] == ["2.0", "1.5", "1.1"]


def test_tensorboard_receives_scalars_when_installed(tmp_path, monkeypatch):
    calls = []

    class Writer:
        def __init__(self, logdir):
            calls.append(("open", logdir))

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def close(self):
            calls.append(("close",))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = Writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    book = Logbook(tmp_path, tensorboard=True)
    book.scalars(5, {"loss": 1.0, "lr": 0.1})
    book.epoch({"epoch": 1, "iteration": 5, "val_AP": 0.3, "note": "x"})
    book.close()
    assert calls[0] == ("open", str(tmp_path / "tb"))
    assert ("train/loss", 1.0, 5) in calls and ("epoch/val_AP", 0.3, 5) in calls
    assert calls[-1] == ("close",) and not any(c[0] == "epoch/note" for c in calls)
