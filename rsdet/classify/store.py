"""The classifier file: one ``torch.save`` of plain data and tensors.

``{"format": "rsdet-classifier", "version": 1, "config", "classes", "meta", "state"}``.
``state`` is a network's state dict, or BoVW's arrays (as tensors) and its scikit-learn SVM
as joblib bytes. The file loads with ``weights_only=True``; the BoVW SVM is then unpickled by
joblib, so load BoVW files only from sources you trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsdet.classify.bovw import BoVW
from rsdet.classify.model import ClassifierConfig, TileClassifier, build_net
from rsdet.errors import InputError
from rsdet.io.atomic import atomic_output

__all__ = ["FORMAT", "load_classifier", "save_classifier"]

FORMAT = "rsdet-classifier"


def save_classifier(clf: TileClassifier, path: Path) -> None:
    """Write ``clf`` to ``path`` atomically."""
    state: dict[str, Any]
    if clf.bovw is not None:
        raw = clf.bovw.to_state()
        arrays = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in raw["arrays"].items()}
        state = {"arrays": arrays, "svm_joblib": raw["svm_joblib"]}
    else:
        assert clf.net is not None
        state = clf.net.state_dict()
    payload = {
        "format": FORMAT,
        "version": 1,
        "config": clf.config.to_dict(),
        "classes": list(clf.classes),
        "meta": clf.meta,
        "state": state,
    }
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


def load_classifier(path: Path) -> TileClassifier:
    """Read a classifier file (a folder: its ``classifier.pt``).

    Raises:
        InputError: missing or unreadable file, or not a classifier file.
    """
    if path.is_dir():
        path = path / "classifier.pt"
    if not path.is_file():
        raise InputError(f"{path}: classifier file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise InputError(f"{path}: not a readable classifier file ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not an rsdet classifier file")
    config = ClassifierConfig.from_dict(payload["config"])
    classes = tuple(payload["classes"])
    clf = TileClassifier(config, classes, meta=payload["meta"])
    state = payload["state"]
    if config.model == "bovw":
        arrays = {k: v.numpy() for k, v in state["arrays"].items()}
        clf.bovw = BoVW.from_state(config.bovw, {**state, "arrays": arrays})
    else:
        clf.net = build_net(config, len(classes))
        clf.net.load_state_dict(state)
        clf.net.eval()
    return clf
