"""The tile screener: an object / empty classifier that lets ``rsdet detect`` skip tiles.

A screener file is a classifier file (:mod:`.store`) whose classes include ``object`` (the
object / empty tiles of a detection spec, :mod:`.data`). ``rsdet classify train`` stores in
it the threshold picked for recall (:func:`pick_threshold`): the largest probability of
``object`` below which at most 0.5 % of the validation *object tiles* are skipped (tile
recall, not object recall). A tile is skipped when its probability of ``object`` is below
the threshold; :data:`DEFAULT_THRESHOLD` applies to files without one.

The detector's reader thread turns each tile into a thumbnail (the first three bands,
stretched to uint8 as :func:`~rsdet.classify.data.to_rgb8` does, resized to the
classifier's input edge); the model's thread scores a batch's thumbnails just before the
detector runs on the tiles it keeps.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsdet.classify.data import to_rgb8
from rsdet.errors import InputError

__all__ = [
    "CURVE_THRESHOLDS",
    "DEFAULT_THRESHOLD",
    "MAX_TILE_LOSS",
    "ScreenWarning",
    "Screener",
    "check_detector",
    "file_sha256",
    "load_screener",
    "pick_threshold",
    "recall_curve",
]

# Files without a recall-picked threshold: skip a tile only when the screener gives its
# "object" class under 5 % (conservative: most object tiles score far above it).
DEFAULT_THRESHOLD = 0.05
MAX_TILE_LOSS = 0.005  # share of ground-truth object tiles the picked threshold may skip
CURVE_THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def pick_threshold(
    p_object: np.ndarray, is_object: np.ndarray, max_loss: float = MAX_TILE_LOSS
) -> float:
    """The largest threshold that skips at most ``max_loss`` of the object tiles.

    A tile is skipped when ``p_object < threshold``. With ``n`` object tiles, at most
    ``k = floor(max_loss * n)`` may be skipped: the threshold is the (k+1)-th smallest
    object-tile probability (ties only lower the loss). 0.0 (skip nothing) without object
    tiles.
    """
    p = np.sort(np.asarray(p_object, np.float64)[np.asarray(is_object, bool)])
    if len(p) == 0:
        return 0.0
    k = math.floor(max_loss * len(p) + 1e-9)
    return float(p[k])


def recall_curve(
    p_object: np.ndarray, is_object: np.ndarray, thresholds: Sequence[float] = CURVE_THRESHOLDS
) -> list[dict[str, float]]:
    """Per threshold: tile recall (object tiles kept) and the share of all tiles skipped."""
    p = np.asarray(p_object, np.float64)
    obj = np.asarray(is_object, bool)
    rows = []
    for t in thresholds:
        kept = p >= t
        recall = float(kept[obj].mean()) if obj.any() else 1.0
        rows.append(
            {
                "threshold": float(t),
                "tile_recall": recall,
                "skipped": float((~kept).mean()) if len(p) else 0.0,
            }
        )
    return rows


@dataclass(frozen=True)
class Screener:
    """Scores tiles and says which go on to the detector.

    Attributes:
        p_object: ``(N, S, S, 3) uint8 thumbnails -> (N,) probability of "object"``.
        size: thumbnail edge ``S``, px (the classifier's input edge).
        threshold: tiles with a probability below it are skipped.
        identity: what identifies the screener in a resume journal (plain data).
        path: the file it was loaded from (None: built in memory; then it pickles whole).
        made_for: the detector it was matched to (``--screen-for``; see
            :func:`check_detector`), or None.
    """

    p_object: Callable[[np.ndarray], np.ndarray]
    size: int
    threshold: float
    identity: Any
    path: str | None = None
    made_for: dict[str, Any] | None = None

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickled as its file (a Dask worker loads it, like the model), when it has one."""
        if self.path is None:
            return super().__reduce_ex__(protocol)
        return _reload, (self.path, self.threshold, self.identity)

    def thumbnail(self, raw: np.ndarray) -> np.ndarray:
        """(C, H, W) tile pixels -> (S, S, 3) uint8 (reader thread)."""
        import cv2

        rgb = to_rgb8(np.moveaxis(raw, 0, -1))
        s = self.size
        if rgb.shape[:2] == (s, s):
            return rgb
        out: np.ndarray = cv2.resize(rgb, (s, s), interpolation=cv2.INTER_AREA)
        return out

    def keep(self, thumbs: np.ndarray) -> np.ndarray:
        """(N,) bool: which tiles, by their (N, S, S, 3) thumbnails, the detector should see."""
        if len(thumbs) == 0:
            return np.zeros(0, bool)
        return np.asarray(self.p_object(thumbs), np.float64).reshape(-1) >= self.threshold


def load_screener(path: str | Path, threshold: float | None = None) -> Screener:
    """A :class:`Screener` from a classifier file with an ``object`` class.

    ``threshold`` None: the file's recall-picked ``screen_thr``, else
    :data:`DEFAULT_THRESHOLD`.

    Raises:
        InputError: unreadable file, not a classifier, no ``object`` class, bad threshold.
    """
    from rsdet.classify.store import load_classifier

    path = Path(path)
    clf = load_classifier(path)
    if "object" not in clf.classes:
        raise InputError(
            f"--screen {path}: classes {list(clf.classes)} have no 'object' "
            "(train it on a detection spec: object / empty tiles)"
        )
    if threshold is None:
        threshold = float(clf.meta.get("screen_thr", DEFAULT_THRESHOLD))
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--screen-thr {threshold}: must be within [0, 1]")
    k = clf.classes.index("object")
    file = path / "classifier.pt" if path.is_dir() else path
    stat = file.stat()
    identity = {"path": str(file.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns}

    def p_object(thumbs: np.ndarray) -> np.ndarray:
        return clf.scores(thumbs)[:, k]

    made_for = clf.meta.get("screen_for")
    return Screener(p_object, clf.config.size, threshold, identity, str(file), made_for)


_LOADED: dict[str, Screener] = {}
_LOADED_LOCK = threading.Lock()


def _reload(path: str, threshold: float, identity: Any) -> Screener:
    """A worker process's copy of a pickled screener, loaded from its file once.

    Raises:
        InputError: the file is not the one the run started with (changed or replaced).
    """
    key = json.dumps([path, threshold, identity], sort_keys=True)
    with _LOADED_LOCK:
        screener = _LOADED.get(key)
        if screener is None:
            screener = load_screener(path, threshold)
            if screener.identity != identity:
                raise InputError(f"--screen {path}: the file changed since the run started")
            _LOADED.clear()  # one run's screener at a time
            _LOADED[key] = screener
        return screener


class ScreenWarning(UserWarning):
    """The screener was made for another detector (``rsdet detect`` shows it as one line)."""


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (a detector's checkpoint; a few MB: milliseconds)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_detector(
    screener: Screener, classes: Sequence[str], tile_size: int, model_file: str | None
) -> None:
    """Refuse or warn when ``screener`` was made (``--screen-for``) for another detector.

    A screener without ``made_for`` is not checked. Tile size differs: refused (it judges
    tiles of another extent, and its threshold was picked for those). Another checkpoint
    (SHA-256 of ``model_file``) or other classes: a :class:`ScreenWarning` (a retrained
    detector with the same classes and tiles may keep its screener).

    Raises:
        InputError: the run's tile size is not the one the screener was made for.
    """
    made = screener.made_for
    if not made:
        return
    name = made.get("model", "?")
    if int(made.get("tile_size", tile_size)) != tile_size:
        raise InputError(
            f"--screen {screener.path}: made for {made['tile_size']} px tiles of {name}, "
            f"this run cuts {tile_size} px tiles (use --tile {made['tile_size']}, or train "
            "a screener with rsdet classify train --screen-for)"
        )
    if list(made.get("classes", classes)) != list(classes):
        warnings.warn(
            f"--screen {screener.path}: made for the classes {made['classes']} of {name}, "
            f"this model has {list(classes)}",
            ScreenWarning,
            stacklevel=2,
        )
    elif model_file is not None and made.get("sha256") not in (None, file_sha256(model_file)):
        warnings.warn(
            f"--screen {screener.path}: made for another checkpoint ({name}); "
            "its tile recall on this model's tiles is unchecked",
            ScreenWarning,
            stacklevel=2,
        )
