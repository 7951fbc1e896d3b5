"""SIGTERM (what a cluster sends at the end of a job's time) saves like Ctrl-C; resume goes on.

A real ``rsdet train`` process and its loader worker are stopped from outside, as a
cluster's scheduler does (SIGTERM to the whole process group), in the middle of an epoch.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from rsdet.pipelines.train import TrainOptions, run_train

from rsdet.models.checkpoint import read_checkpoint
from tests.engine.fake_network import register_fake, tiny_recipe_dict

ROOT = Path(__file__).resolve().parents[2]

# Trains the fake network through the real CLI; at iteration 3 it says so in a file, then
# takes its time, so that the signal arrives during that iteration.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rsdet.models import zoo
    from tests.engine.fake_network import ARCH, FakeNet, fake_architecture

    zoo.ARCHITECTURES[ARCH] = fake_architecture
    ready, original = Path(sys.argv[1]), FakeNet.forward

    def slow(self, images, targets=None):
        if self.training and self.calls + 1 == 3:
            ready.touch()
            time.sleep(2)
        return original(self, images, targets)

    FakeNet.forward = slow
    from rsdet.cli.main import app

    app(sys.argv[2:], prog_name="rsdet")
    """
)


@pytest.mark.slow  # two interpreters start (about 10 s)
def test_sigterm_mid_epoch_saves_last_pt_and_resume_finishes(tmp_path, monkeypatch):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe_dict(epochs=1, batch_size=2, workers=1)))
    out, ready = tmp_path / "run", tmp_path / "at-iteration-3"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = ["train", "--recipe", str(recipe), "--out", str(out), "-q"]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ready), *args],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job
    )
    deadline = time.monotonic() + 120
    while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), child.communicate()[1]
    os.killpg(child.pid, signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    epoch, batch, iterations = read_checkpoint(out / "last.pt").train_state["position"][:3]
    assert (epoch, batch, iterations) == (0, 3, 3)  # the interrupted iteration was finished
    register_fake(monkeypatch)
    result = run_train(TrainOptions(out=out, resume=True, quiet=True))
    assert (result.epochs, result.iterations) == (1, 4)  # 8 windows, 2 per batch
    assert not (out / ".rsdet-lock").exists()
