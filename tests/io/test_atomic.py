"""Atomic writes: a failed write is one line naming the output, and leaves nothing behind."""

import os

import pytest

from rsdet.errors import OutputError
from rsdet.io.atomic import atomic_output, make_folder, write_bytes_atomic


def test_a_file_where_the_folder_should_be(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(
        OutputError, match=r"file\.txt/sub: cannot create this folder, .* is a file"
    ):
        make_folder(tmp_path / "file.txt" / "sub")
    with pytest.raises(OutputError, match=r"file\.txt: cannot create this folder, .* is a file"):
        make_folder(tmp_path / "file.txt")
    with pytest.raises(OutputError, match=r"out\.json: cannot create its folder, .* is a file"):
        write_bytes_atomic(tmp_path / "file.txt" / "out.json", b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_a_folder_that_refuses_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "out.json"
    out.write_text("old")

    def read_only(src, dst):  # what a read-only mount answers (root ignores chmod)
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(OutputError, match=r"out\.json: cannot replace it \(Permission denied\)"):
        with atomic_output(out) as tmp:
            tmp.write_text("new")
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left
