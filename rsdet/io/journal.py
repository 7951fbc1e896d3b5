"""A resumable run's memory: the raw detections of every finished batch, on disk.

The journal is a JSON-lines file next to the output (``<output>.rsdet-journal``). Line 1
holds the run's *fingerprint* (scenes, model, tiling and thresholds); every further line
is one finished batch of tiles with its detections, already in scene pixels and before
the cross-tile merge. Each line is flushed and synced before the next batch starts, so
after an interruption (Ctrl-C, a crash, a killed job) the journal holds every finished
batch and at most one torn last line, which is dropped on resume.

Floats are written with Python's shortest round-trip repr, so a resumed run merges
bit-identical numbers and produces the same output as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdet.errors import InputError, OutputError, OutputExistsError
from rsdet.structures import Detections, HBoxes, RBoxes

__all__ = ["Journal", "JournalRecord", "journal_path"]

_FORMAT = "rsdet-journal/1"


def journal_path(output: str | Path) -> Path:
    """Where the journal of a run writing ``output`` lives."""
    output = Path(output)
    return output.with_name(output.name + ".rsdet-journal")


@dataclass(frozen=True, eq=False)
class JournalRecord:
    """One finished batch of one scene (numpy in memory, JSON on disk).

    Attributes:
        scene: index of the scene in the run's scene list.
        batch: index of the batch within the scene.
        tile: (N,) int64 tile index of each detection.
        boxes: (N, 4|5) float64 boxes in scene pixels.
        scores: (N,) float64.
        labels: (N,) int64.
        fragment: (N,) bool, see :func:`rsdet.merge.edge_fragments`.
        screened: tiles of the batch the tile screener rejected (the model never saw them).
    """

    scene: int
    batch: int
    tile: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    fragment: np.ndarray
    screened: tuple[int, ...] = ()

    @classmethod
    def from_tiles(
        cls,
        scene: int,
        batch: int,
        tiles: list[int],
        dets: list[Detections],
        fragments: list[np.ndarray],
    ) -> JournalRecord:
        """Gather the detections of a batch's tiles (already in scene pixels)."""
        kept = [(t, d, f) for t, d, f in zip(tiles, dets, fragments, strict=True) if len(d)]
        if not kept:
            return cls.empty(scene, batch)
        return cls(
            scene,
            batch,
            np.concatenate([np.full(len(d), t, dtype=np.int64) for t, d, _ in kept]),
            np.concatenate([d.boxes.tensor.detach().cpu().double().numpy() for _, d, _ in kept]),
            np.concatenate([d.scores.detach().cpu().double().numpy() for _, d, _ in kept]),
            np.concatenate([d.labels.detach().cpu().numpy().astype(np.int64) for _, d, _ in kept]),
            np.concatenate([np.asarray(f, dtype=bool) for _, _, f in kept]),
        )

    @classmethod
    def empty(cls, scene: int, batch: int) -> JournalRecord:
        """A batch without detections."""
        i64 = np.zeros(0, dtype=np.int64)
        return cls(scene, batch, i64, np.zeros((0, 4)), np.zeros(0), i64, np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.scores)

    def to_json(self) -> str:
        """One JSON line (floats in shortest round-trip form)."""
        fields = {"scene": self.scene, "batch": self.batch, "tile": self.tile.tolist()}
        fields.update(boxes=self.boxes.tolist(), scores=self.scores.tolist())
        fields.update(labels=self.labels.tolist(), fragment=self.fragment.tolist())
        if self.screened:  # only screened runs write the key
            fields["screened"] = list(self.screened)
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: bytes | str) -> JournalRecord:
        """Parse :meth:`to_json` output (raises ValueError/KeyError/TypeError if torn)."""
        d = json.loads(line)
        boxes = np.asarray(d["boxes"], dtype=np.float64)
        return cls(
            int(d["scene"]),
            int(d["batch"]),
            np.asarray(d["tile"], dtype=np.int64),
            boxes.reshape(-1, boxes.shape[1] if boxes.ndim == 2 else 4),
            np.asarray(d["scores"], dtype=np.float64),
            np.asarray(d["labels"], dtype=np.int64),
            np.asarray(d["fragment"], dtype=bool),
            tuple(int(t) for t in d.get("screened", ())),
        )


class Journal:
    """Finished batches, kept in memory and (optionally) mirrored to a journal file.

    Create it with :meth:`open` for a run that writes a file, or ``Journal()`` for an
    in-memory run (the Python API).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.records: dict[tuple[int, int], JournalRecord] = {}

    @classmethod
    def open(
        cls, path: Path, fingerprint: Mapping[str, Any], resume: bool, overwrite: bool
    ) -> Journal:
        """Start a journal at ``path``, or continue the one there when ``resume`` is set.

        Raises:
            OutputExistsError: a journal exists and neither ``resume`` nor ``overwrite``.
            InputError: ``resume`` with a journal written for other inputs or settings.
        """
        journal = cls(path)
        # Compare in JSON form: tuples and lists, ints and floats as the file stores them.
        fingerprint = json.loads(json.dumps(dict(fingerprint)))
        if path.exists() and resume:
            journal._load(fingerprint)
            return journal
        if path.exists() and not overwrite:
            raise OutputExistsError(
                f"{path}: an interrupted run left this journal "
                "(pass --resume to continue it, or --overwrite to start over)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        header = json.dumps({"format": _FORMAT, "fingerprint": dict(fingerprint)})
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(header + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return journal

    def done(self, scene: int, batch: int) -> bool:
        """True when this batch is already recorded."""
        return (scene, batch) in self.records

    def scene_records(self, scene: int) -> list[JournalRecord]:
        """The records of one scene, by batch index."""
        found = [r for key, r in self.records.items() if key[0] == scene]
        return sorted(found, key=lambda r: r.batch)

    def scene_detections(self, scene: int, oriented: bool) -> tuple[Detections, np.ndarray]:
        """All recorded detections of a scene (float64, tile order) and their fragment flags.

        Args:
            scene: scene index.
            oriented: box type to use when the scene has no detection at all.
        """
        records = [r for r in self.scene_records(scene) if len(r)]
        if not records:
            return Detections.empty(oriented), np.zeros(0, dtype=bool)
        boxes = torch.from_numpy(np.concatenate([r.boxes for r in records]))
        typed: HBoxes | RBoxes = RBoxes(boxes) if boxes.shape[1] == 5 else HBoxes(boxes)
        scores = torch.from_numpy(np.concatenate([r.scores for r in records]))
        labels = torch.from_numpy(np.concatenate([r.labels for r in records]))
        return Detections(typed, scores, labels), np.concatenate([r.fragment for r in records])

    def append(self, record: JournalRecord) -> None:
        """Record a finished batch (durably, when the journal has a file)."""
        self.records[(record.scene, record.batch)] = record
        if self.path is None:
            return
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(record.to_json() + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:  # a full disk: what is recorded so far stays usable
            raise OutputError(
                f"{self.path}: cannot record the finished tiles ({err.strerror}); make room, "
                "then rerun with --resume to continue"
            ) from None

    def remove(self) -> None:
        """Delete the journal file (after the output has been written)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _load(self, fingerprint: Mapping[str, Any]) -> None:
        assert self.path is not None
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        try:
            header = json.loads(lines[0])
        except ValueError as err:
            raise InputError(f"{self.path}: not an rsdet journal (pass --overwrite)") from err
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise InputError(f"{self.path}: not an rsdet journal (pass --overwrite)")
        _check_fingerprint(self.path, header.get("fingerprint"), fingerprint)
        good = len(lines[0]) + 1
        for line in lines[1:]:
            try:
                record = JournalRecord.from_json(line)
            except (ValueError, TypeError, KeyError, IndexError):
                break  # a torn last line from the interruption: redo that batch
            self.records[(record.scene, record.batch)] = record
            good += len(line) + 1
        with self.path.open("r+b") as f:
            f.truncate(min(good, len(raw)))


def _check_fingerprint(path: Path, stored: Any, current: Mapping[str, Any]) -> None:
    if stored == current:
        return
    stored = stored if isinstance(stored, dict) else {}
    changed = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
    raise InputError(
        f"{path}: this journal belongs to a run with different {', '.join(changed)} "
        "(rerun with the same settings, or pass --overwrite to start over)"
    )
