import pytest

from rsdet.errors import InputError, OutputExistsError
from rsdet.io.journal import Journal, JournalRecord, journal_path

FP = {"scenes": [{"path": "a.tif"}], "options": {"tile_size": 64, "bands": (1, 2, 3)}}


def record(scene, batch, n=2):
    return JournalRecord(
        scene,
        batch,
        tile=[batch] * n,
        boxes=[[0.1, 0.2, 1.0 / 3.0, 4.0]] * n,
        scores=[0.123456789012345678] * n,
        labels=[1] * n,
        fragment=[True] * n,
    )


def test_journal_lives_next_to_the_output(tmp_path):
    assert journal_path(tmp_path / "cars.gpkg") == tmp_path / "cars.gpkg.rsdet-journal"


def test_resume_restores_records_exactly(tmp_path):
    path = tmp_path / "j"
    j = Journal.open(path, FP, resume=False, overwrite=False)
    j.append(record(0, 0))
    j.append(record(0, 1, n=0))
    again = Journal.open(path, FP, resume=True, overwrite=False)
    assert again.done(0, 0) and again.done(0, 1) and not again.done(0, 2)
    assert again.scene_records(0) == [record(0, 0), record(0, 1, n=0)]  # floats bit-exact


def test_torn_last_line_is_dropped_and_cut_off(tmp_path):
    path = tmp_path / "j"
    j = Journal.open(path, FP, resume=False, overwrite=False)
    j.append(record(0, 0))
    with path.open("a") as f:
        f.write('{"scene": 0, "batch": 1, "tile": [1, 1], "box')  # killed mid-write
    again = Journal.open(path, FP, resume=True, overwrite=False)
    assert not again.done(0, 1)
    again.append(record(0, 1))
    assert Journal.open(path, FP, resume=True, overwrite=False).done(0, 1)


def test_an_old_journal_is_never_silently_replaced(tmp_path):
    path = tmp_path / "j"
    Journal.open(path, FP, resume=False, overwrite=False).append(record(0, 0))
    with pytest.raises(OutputExistsError, match="--resume"):
        Journal.open(path, FP, resume=False, overwrite=False)
    fresh = Journal.open(path, FP, resume=False, overwrite=True)
    assert not fresh.done(0, 0)


def test_resume_with_other_settings_is_refused(tmp_path):
    path = tmp_path / "j"
    Journal.open(path, FP, resume=False, overwrite=False)
    other = {**FP, "options": {"tile_size": 128, "bands": (1, 2, 3)}}
    with pytest.raises(InputError, match="different options"):
        Journal.open(path, other, resume=True, overwrite=False)


def test_resume_without_a_journal_starts_fresh(tmp_path):
    j = Journal.open(tmp_path / "j", FP, resume=True, overwrite=False)
    assert j.records == {}


def test_garbage_journal(tmp_path):
    path = tmp_path / "j"
    path.write_text("not json\n")
    with pytest.raises(InputError, match="not an rsdet journal"):
        Journal.open(path, FP, resume=True, overwrite=False)


def test_in_memory_journal_and_remove(tmp_path):
    j = Journal()
    j.append(record(1, 0))
    assert j.scene_records(1) == [record(1, 0)] and j.scene_records(0) == []
    j.remove()
    path = tmp_path / "j"
    Journal.open(path, FP, resume=False, overwrite=False).remove()
    assert not path.exists()
