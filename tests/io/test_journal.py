import numpy as np
import pytest
import torch

from rsdet.errors import InputError, OutputExistsError
from rsdet.io.journal import Journal, JournalRecord, journal_path
from rsdet.structures import Detections, HBoxes, RBoxes

FP = {"scenes": [{"path": "a.tif"}], "options": {"tile_size": 64, "bands": (1, 2, 3)}}


def record(scene, batch, n=2):
    dets = Detections(
        HBoxes(torch.tensor([[0.1, 0.2, 1.0 / 3.0, 4.0]] * n, dtype=torch.float64)),
        torch.full((n,), 0.123456789012345678, dtype=torch.float64),
        torch.ones(n, dtype=torch.int64),
    )
    return JournalRecord.from_tiles(scene, batch, [batch], [dets], [np.ones(n, bool)])


def same(a, b):
    fields = ("tile", "boxes", "scores", "labels", "fragment")
    return (a.scene, a.batch) == (b.scene, b.batch) and all(
        np.array_equal(getattr(a, f), getattr(b, f)) for f in fields
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
    got = again.scene_records(0)
    assert len(got) == 2 and same(got[0], record(0, 0)) and same(got[1], record(0, 1, n=0))


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
    assert same(j.scene_records(1)[0], record(1, 0)) and j.scene_records(0) == []
    j.remove()
    path = tmp_path / "j"
    Journal.open(path, FP, resume=False, overwrite=False).remove()
    assert not path.exists()


def test_scene_detections_concatenate_in_batch_order(tmp_path):
    j = Journal()
    rot = Detections(
        RBoxes(torch.tensor([[5.0, 5, 4, 2, 0.1]], dtype=torch.float64)),
        torch.tensor([0.5]),
        torch.tensor([2]),
    )
    j.append(JournalRecord.from_tiles(0, 1, [7], [rot], [np.array([False])]))
    j.append(JournalRecord.empty(0, 0))
    dets, frag = j.scene_detections(0, oriented=False)
    assert dets.oriented and len(dets) == 1 and frag.tolist() == [False]
    empty, frag = Journal().scene_detections(3, oriented=True)
    assert empty.oriented and len(empty) == 0 and frag.shape == (0,)
