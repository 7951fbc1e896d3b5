"""In-memory evaluation: ``Sample`` ground truth + per-image ``Detections`` -> ``EvalResult``.

This is what the training engine calls after each epoch, and it scores exactly as
``rsdet eval`` does for the same protocol (the CLI only adds file reading)::

    result = evaluate("aitod", val_samples, detections, classes)
    result.metrics["AP"], result.per_class["ship"]["AP"], result.score
"""

from __future__ import annotations

from collections.abc import Sequence

from rsdet.evaluation.coco_eval import evaluate_coco
from rsdet.evaluation.coco_match import ProgressFn
from rsdet.evaluation.errors import EvaluationInputError
from rsdet.evaluation.from_samples import (
    DetectionsArg,
    align_detections,
    coco_detections,
    coco_ground_truth,
    voc_detections,
    voc_ground_truth,
)
from rsdet.evaluation.protocols import (
    PROTOCOLS,
    coco_params,
    dior_protocol,
    dota_protocol,
    is_coco_style,
)
from rsdet.evaluation.result import EvalResult
from rsdet.evaluation.voc_ap import ApMode
from rsdet.evaluation.voc_eval import VocProtocol, evaluate_voc
from rsdet.structures import Detections, RBoxes, Sample

__all__ = ["evaluate", "voc_protocol_for"]


def voc_protocol_for(
    protocol: str, version: str = "1.0", ap_mode: ApMode | None = None
) -> VocProtocol:
    """Settings of a VOC-style protocol.

    Args:
        protocol: ``dota``, ``dota-hbb``, ``dior`` or ``dior-r``.
        version: DOTA version (``1.0``, ``1.5``, ``2.0``); ignored for DIOR.
        ap_mode: DIOR only: ``"11point"`` (default, as published DIOR-R numbers) or
            ``"area"``. DOTA is always 11-point (its official script).
    """
    if protocol in ("dota", "dota-hbb"):
        if ap_mode not in (None, "11point"):
            raise EvaluationInputError(f"{protocol}: the official DOTA AP is 11-point only")
        return dota_protocol(version, hbb=protocol == "dota-hbb")
    if protocol in ("dior", "dior-r"):
        return dior_protocol(oriented=protocol == "dior-r", ap_mode=ap_mode or "11point")
    raise EvaluationInputError(
        f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})"
    )


def evaluate(
    protocol: str,
    samples: Sequence[Sample],
    detections: DetectionsArg,
    classes: Sequence[str],
    *,
    version: str = "1.0",
    ap_mode: ApMode | None = None,
    on_progress: ProgressFn | None = None,
) -> EvalResult:
    """Score detections against in-memory ground truth.

    Args:
        protocol: one of ``coco``, ``aitod``, ``dota``, ``dota-hbb``, ``dior``, ``dior-r``.
        samples: ground truth, one per image (polygons in pixels, ``labels`` indexing
            ``classes``, ``difficulty`` for DOTA, ``crowd`` for COCO). Images without
            objects count: their detections are false positives.
        detections: per image, in the samples' frames: a sequence aligned with
            ``samples`` (None = no detections) or a mapping ``image_id -> Detections``
            (missing = no detections). Boxes may be HBoxes or RBoxes: COCO-style and
            ``dior`` / ``dota-hbb`` use envelopes of oriented boxes, ``dota`` / ``dior-r``
            use polygons of either. Labels index ``classes``.
        classes: class names, the protocol's official list for DOTA (the mAP averages
            over all of them).
        version: DOTA version (``1.0`` ignores difficult objects; ``1.5``/``2.0`` count them).
        ap_mode: DIOR / DIOR-R only, ``"11point"`` (default) or ``"area"``.
        on_progress: ``on_progress(done, total)`` while matching.

    Returns:
        The result, as the CLI's ``--json`` prints it.

    Raises:
        EvaluationInputError: unknown protocol, misaligned detections, labels out of range.
    """
    per_image = align_detections(samples, detections)
    if is_coco_style(protocol):
        gt = coco_ground_truth(samples, classes)
        dets = coco_detections(per_image, len(classes))
        return evaluate_coco(gt, dets, coco_params(protocol), on_progress)
    proto = voc_protocol_for(protocol, version, ap_mode)
    if protocol in ("dota-hbb", "dior"):
        per_image = [None if d is None else _as_hbox(d) for d in per_image]
    voc_gt = voc_ground_truth(samples, classes)
    voc_dets = voc_detections(per_image, len(classes))
    return evaluate_voc(voc_gt, voc_dets, proto, on_progress)


def _as_hbox(dets: Detections) -> Detections:
    """Oriented detections -> their envelopes (horizontal protocols score boxes)."""
    if isinstance(dets.boxes, RBoxes):
        return Detections(dets.boxes.envelope(), dets.scores, dets.labels)
    return dets
