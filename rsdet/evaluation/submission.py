"""Read a DOTA-style submission folder: one ``Task{1,2}_<class>.txt`` file per class.

Lines (space-separated, coordinates in full-image pixels)::

    Task1_<class>.txt:  imgname score x1 y1 x2 y2 x3 y3 x4 y4
    Task2_<class>.txt:  imgname score xmin ymin xmax ymax

A missing class file means no detections of that class (an empty file too; the official
script crashes on both). Any problem stops reading with one line naming the file and line:
wrong field count, a non-number, or an image that is not in the ground truth (the
official script dies with a bare ``KeyError``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from rsdet.errors import InputError
from rsdet.evaluation.voc_data import VocDetections, boxes_to_quads

__all__ = ["SubmissionError", "class_files", "read_class_file", "read_submission"]

Task = Literal[1, 2]

_FIELDS = {1: "imgname score x1 y1 x2 y2 x3 y3 x4 y4", 2: "imgname score xmin ymin xmax ymax"}


class SubmissionError(InputError):
    """A submission folder or one of its result files is missing or malformed."""


def class_files(folder: Path, task: Task, class_names: Sequence[str]) -> dict[int, Path]:
    """Class index -> its result file; class names match case-insensitively.

    Raises:
        SubmissionError: the folder is missing, holds no ``Task{task}_*.txt`` at all, or
            holds one for a class that is not in ``class_names``.
    """
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: not a folder (expected Task{task}_<class>.txt files)")
    by_name = {name.lower(): k for k, name in enumerate(class_names)}
    prefix = f"Task{task}_"
    found: dict[int, Path] = {}
    for path in sorted(folder.glob(f"{prefix}*.txt")):
        name = path.stem[len(prefix) :]
        if name.lower() not in by_name:
            raise SubmissionError(
                f"{path}: {name!r} is not a class of the ground truth "
                f"(classes: {', '.join(class_names)})"
            )
        found[by_name[name.lower()]] = path
    if not found:
        other = 2 if task == 1 else 1
        hint = ""
        if any(folder.glob(f"Task{other}_*.txt")):
            hint = f" (it holds Task{other}_ files: use the other protocol, dota vs dota-hbb)"
        raise SubmissionError(f"{folder}: no Task{task}_<class>.txt result files{hint}")
    return found


def _parse_line(
    path: Path, lineno: int, tokens: list[str], task: Task, images: Mapping[str, int], gt_name: str
) -> tuple[int, list[float]]:
    """One line -> (image index, [score, coordinates...]) or a one-line error."""
    n_fields = 10 if task == 1 else 6
    if len(tokens) != n_fields:
        raise SubmissionError(
            f"{path}:{lineno}: expected {n_fields} fields '{_FIELDS[task]}', got {len(tokens)}"
        )
    try:
        values = [float(t) for t in tokens[1:]]
    except ValueError:
        bad = next(t for t in tokens[1:] if not _is_float(t))
        raise SubmissionError(f"{path}:{lineno}: {bad!r} is not a number") from None
    if not all(math.isfinite(v) for v in values):
        raise SubmissionError(f"{path}:{lineno}: score and coordinates must be finite")
    if tokens[0] not in images:
        raise SubmissionError(f"{path}:{lineno}: image {tokens[0]!r} is not in {gt_name}")
    return images[tokens[0]], values


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_class_file(
    path: Path, task: Task, images: Mapping[str, int], gt_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Parse one result file.

    Args:
        path: the ``Task{task}_<class>.txt`` file.
        task: 1 (polygons) or 2 (boxes).
        images: image name -> image index of the ground truth.
        gt_name: how to name the ground truth in errors.

    Returns:
        ``(image_index (n,), values (n, 9 | 5))``: score then coordinates, in file order.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SubmissionError(f"{path}: cannot read ({err})") from None
    rows = [
        _parse_line(path, lineno, tokens, task, images, gt_name)
        for lineno, line in enumerate(text.splitlines(), start=1)
        if (tokens := line.split())
    ]
    width = 9 if task == 1 else 5
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, width))
    image = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return image, np.asarray([r[1] for r in rows], dtype=np.float64)


def read_submission(
    folder: str | Path,
    task: Task,
    images: Mapping[str, int],
    class_names: Sequence[str],
    gt_name: str = "the ground truth",
) -> VocDetections:
    """Read every class file of a submission folder.

    Args:
        folder: the folder holding ``Task{task}_<class>.txt`` files.
        task: 1 (oriented polygons, DOTA Task 1 / DIOR-R) or 2 (boxes, Task 2 / DIOR).
        images: image name (file stem) -> image index of the ground truth.
        class_names: the ground truth's classes; detections get their index.
        gt_name: how to name the ground truth in errors (e.g. its path).

    Returns:
        All detections; boxes of Task 2 files become their 4 corners TL, TR, BR, BL.
    """
    folder = Path(folder)
    parts_image, parts_label, parts_values = [], [], []
    for k, path in class_files(folder, task, class_names).items():
        image, values = read_class_file(path, task, images, gt_name)
        parts_image.append(image)
        parts_label.append(np.full(len(image), k, dtype=np.int64))
        parts_values.append(values)
    image = np.concatenate(parts_image)
    values = np.concatenate(parts_values)
    coords = values[:, 1:]
    quads = coords.reshape(-1, 4, 2) if task == 1 else boxes_to_quads(coords)
    return VocDetections(
        image=image, label=np.concatenate(parts_label), score=values[:, 0], quads=quads
    )
