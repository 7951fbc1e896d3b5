"""Classification metrics: accuracy, log loss, per-class precision / recall, confusion matrix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rsdet.io.atomic import write_bytes_atomic

__all__ = ["Report", "confusion_png", "score_report"]


@dataclass(frozen=True)
class Report:
    """How a classifier did on labelled images.

    Attributes:
        classes: class names (rows / columns of ``confusion``).
        n: images scored.
        accuracy: share of images whose top class is right.
        loss: mean cross-entropy of the true class's score (nats); for BoVW the scores are
            softmaxed SVM margins, so compare its loss only with itself.
        precision, recall: per class; 0 when the class was never predicted / never present.
        confusion: ``confusion[true][predicted]`` image counts.
        seconds_per_image: wall time of scoring, per image.
    """

    classes: tuple[str, ...]
    n: int
    accuracy: float
    loss: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]
    seconds_per_image: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def score_report(
    scores: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], seconds: float
) -> Report:
    """A :class:`Report` from (N, C) class scores (rows sum to 1) and (N,) true labels."""
    c = len(classes)
    pred = scores.argmax(axis=1)
    conf = np.zeros((c, c), np.int64)
    np.add.at(conf, (labels, pred), 1)
    tp = np.diag(conf).astype(np.float64)
    precision = tp / np.maximum(conf.sum(axis=0), 1)
    recall = tp / np.maximum(conf.sum(axis=1), 1)
    true_score = scores[np.arange(len(labels)), labels]
    n = len(labels)
    return Report(
        classes=classes,
        n=n,
        accuracy=float((pred == labels).mean()) if n else 0.0,
        loss=float(-np.log(np.clip(true_score, 1e-12, 1)).mean()) if n else 0.0,
        precision=tuple(map(float, precision)),
        recall=tuple(map(float, recall)),
        confusion=tuple(tuple(map(int, row)) for row in conf),
        seconds_per_image=seconds / max(n, 1),
    )


def confusion_png(report: Report, path: Path, cell: int = 48) -> None:
    """Draw ``report.confusion`` (rows: true, columns: predicted; row-normalised shade)."""
    conf = np.asarray(report.confusion, np.float64)
    c = len(conf)
    names = [name[:12] for name in report.classes]
    margin = 8 * max(len(n) for n in names) + 16
    size = margin + c * cell + 8
    img = np.full((size, size, 3), 255, np.uint8)
    share = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(c):
        y = margin + i * cell
        cv2.putText(img, names[i], (4, y + cell // 2 + 4), font, 0.35, (0, 0, 0), 1)
        cv2.putText(img, names[i], (margin + i * cell + 2, margin - 6), font, 0.3, (0, 0, 0), 1)
        for j in range(c):
            x, shade = margin + j * cell, int(255 * (1 - share[i, j]))
            cv2.rectangle(img, (x, y), (x + cell - 1, y + cell - 1), (255, shade, shade), -1)
            colour = (255, 255, 255) if share[i, j] > 0.5 else (0, 0, 0)
            cv2.putText(img, str(int(conf[i, j])), (x + 4, y + cell // 2 + 4), font, 0.4, colour, 1)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the PNG")
    write_bytes_atomic(path, bytes(buf.tobytes()))
