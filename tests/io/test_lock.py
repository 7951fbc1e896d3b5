"""One run per output: a live holder makes the next run refuse, a dead one's lock is taken."""

import os
import socket
import subprocess
import sys

import pytest

from rsdet.errors import OutputError
from rsdet.io.lock import lock_path, output_lock


def test_a_live_holder_makes_a_second_run_refuse(tmp_path):
    out = tmp_path / "objects.gpkg"
    with output_lock(out) as held:
        assert held == lock_path(out) == tmp_path / "objects.gpkg.rsdet-lock"
        assert held.read_text().split() == [str(os.getpid()), socket.gethostname()]
        with pytest.raises(OutputError, match=r"objects\.gpkg: another rsdet run \(PID \d+ on "):
            with output_lock(out):
                pass
    assert not held.exists()  # released: nothing left beside the output
    with output_lock(out):  # and free again
        pass


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "objects.gpkg"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    lock_path(out).write_text(f"{dead.stdout.strip()} {socket.gethostname()}\n")
    with output_lock(out) as held:
        assert held.read_text().split()[0] == str(os.getpid())
    assert not held.exists()


def test_a_folder_that_cannot_hold_the_lock_is_a_one_line_error(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputError, match=r"o\.gpkg: cannot write in .*file\.txt \("):
        with output_lock(tmp_path / "file.txt" / "o.gpkg"):
            pass
