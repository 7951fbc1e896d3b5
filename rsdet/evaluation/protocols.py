"""The six protocols ``rsdet eval`` knows, and the settings each one stands for.

========== ============================================================================
protocol   scored as
========== ============================================================================
coco       pycocotools: AP@[.5:.95], 101 recall points, maxDets 1/10/100, s/m/l sizes
aitod      AI-TOD's cocoapi fork: maxDets 1/100/1500, very tiny/tiny/small/medium sizes
dota       DOTA_devkit Task 1: polygon IoU > 0.5, VOC07 11-point AP, mean over all classes;
           difficult ignored in v1.0, counted in v1.5 / v2.0
dota-hbb   DOTA_devkit Task 2: the same with +1-pixel box IoU on int() ground truth
dior       mmdet / OBBDetection VOC: box IoU >= 0.5, 11-point (or all-point) AP,
           mean over classes with ground truth, nothing ignored
dior-r     mmrotate / OBBDetection: the same with polygon IoU
========== ============================================================================
"""

from __future__ import annotations

from typing import Literal, get_args

from rsdet.evaluation.coco_params import AITOD_PARAMS, COCO_PARAMS, CocoParams
from rsdet.evaluation.errors import EvaluationInputError
from rsdet.evaluation.voc_ap import ApMode
from rsdet.evaluation.voc_eval import VocProtocol

__all__ = [
    "PROTOCOLS",
    "DotaVersion",
    "ProtocolName",
    "coco_params",
    "dior_protocol",
    "dota_protocol",
    "is_coco_style",
    "normalize_dota_version",
]

ProtocolName = Literal["coco", "aitod", "dota", "dota-hbb", "dior", "dior-r"]
PROTOCOLS: tuple[str, ...] = get_args(ProtocolName)
DotaVersion = Literal["1.0", "1.5", "2.0"]

_DOTA_VERSIONS = {"1": "1.0", "1.0": "1.0", "1.5": "1.5", "2": "2.0", "2.0": "2.0"}


def is_coco_style(protocol: str) -> bool:
    """True for ``coco`` and ``aitod`` (101-point AP over IoU .5:.95)."""
    return protocol in ("coco", "aitod")


def coco_params(protocol: str) -> CocoParams:
    """Settings of ``coco`` or ``aitod``."""
    if protocol == "coco":
        return COCO_PARAMS
    if protocol == "aitod":
        return AITOD_PARAMS
    raise EvaluationInputError(f"{protocol!r} is not a COCO-style protocol")


def normalize_dota_version(version: str) -> DotaVersion:
    """``"1"``/``"1.0"`` -> ``"1.0"``, ``"1.5"``, ``"2"``/``"2.0"`` -> ``"2.0"``."""
    try:
        return _DOTA_VERSIONS[version.strip()]  # type: ignore[return-value]
    except KeyError:
        raise EvaluationInputError(
            f"unknown DOTA version {version!r} (expected 1.0, 1.5 or 2.0)"
        ) from None


def dota_protocol(version: str, hbb: bool = False) -> VocProtocol:
    """DOTA_devkit's Task 1 (``hbb=False``) or Task 2 evaluation for a dataset version.

    v1.0 uses ``dota_evaluation_task{1,2}.py`` (difficult objects ignored); v1.5 uses
    ``dota-v1.5_evaluation_task{1,2}.py`` (difficult objects counted); v2.0 is assumed to
    follow v1.5 (its evaluation server's policy is not published).
    """
    v = normalize_dota_version(version)
    return VocProtocol(
        name="dota-hbb" if hbb else "dota",
        iou="devkit_hbb" if hbb else "polygon",
        strict=True,
        ignore_difficult=v == "1.0",
        ap_mode="11point",
        zero_ap_without_gt=True,
        version=v,
    )


def dior_protocol(oriented: bool, ap_mode: ApMode = "11point") -> VocProtocol:
    """DIOR (``oriented=False``) or DIOR-R evaluation, as mmrotate / OBBDetection score it.

    IoU >= 0.5; DIOR's ``difficult`` flags are not read by any reference tool, so every
    object counts; classes without ground truth are left out of the mean.
    """
    return VocProtocol(
        name="dior-r" if oriented else "dior",
        iou="polygon" if oriented else "hbb",
        strict=False,
        ignore_difficult=False,
        ap_mode=ap_mode,
        zero_ap_without_gt=False,
    )
