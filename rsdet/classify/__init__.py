"""Tile and scene classification: BoVW + SVM, MLP, TinyNet CNN, InceptionV3, TinyNet-A..E.

Every model is trained and evaluated on labelled tiles.

Data (:mod:`.data`): class folders or detection datasets cut into object / empty tiles.
Models (:mod:`.model`, :mod:`.nets`, :mod:`.bovw`), fitting (:mod:`.train`), metrics
(:mod:`.metrics`) and the classifier file (:mod:`.store`). docs/classify.md has the commands.
"""

from rsdet.classify.bovw import BoVW, BoVWConfig
from rsdet.classify.data import (
    DetectorMatch,
    TileOptions,
    TileSet,
    load_tiles,
    stratified_split,
    to_rgb8,
)
from rsdet.classify.metrics import Report, confusion_png, score_report
from rsdet.classify.model import MODELS, ClassifierConfig, TileClassifier, default_size
from rsdet.classify.store import load_classifier, save_classifier
from rsdet.classify.train import TrainConfig, train_classifier

__all__ = [
    "MODELS",
    "BoVW",
    "BoVWConfig",
    "ClassifierConfig",
    "DetectorMatch",
    "Report",
    "TileClassifier",
    "TileOptions",
    "TileSet",
    "TrainConfig",
    "confusion_png",
    "default_size",
    "load_classifier",
    "load_tiles",
    "save_classifier",
    "score_report",
    "stratified_split",
    "to_rgb8",
    "train_classifier",
]
