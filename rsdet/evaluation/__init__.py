"""Official evaluation protocols: COCO / AI-TOD (101-point AP), DOTA and DIOR (VOC AP).

Entry points:

* :func:`evaluate` scores in-memory ``Sample`` ground truth and per-image ``Detections``
  (what the training engine calls after each epoch).
* :func:`evaluate_coco` / :func:`evaluate_voc` score the array forms, which the readers
  :func:`read_coco_gt`, :func:`read_coco_results` and :func:`read_submission` produce
  from files (what ``rsdet eval`` uses).

Every path returns an :class:`EvalResult`. See docs/evaluation.md for how each protocol
reproduces its official script, and where and why it deliberately does not.
"""

from rsdet.evaluation.api import evaluate, voc_protocol_for
from rsdet.evaluation.coco_data import CocoDetections, CocoGroundTruth
from rsdet.evaluation.coco_eval import coco_tables, evaluate_coco
from rsdet.evaluation.coco_json import CocoFormatError, read_coco_gt, read_coco_results
from rsdet.evaluation.coco_params import AITOD_PARAMS, COCO_PARAMS, AreaRange, CocoParams
from rsdet.evaluation.errors import EvaluationInputError
from rsdet.evaluation.protocols import PROTOCOLS, ProtocolName, dior_protocol, dota_protocol
from rsdet.evaluation.result import EvalResult
from rsdet.evaluation.submission import SubmissionError, read_submission
from rsdet.evaluation.voc_ap import ApMode
from rsdet.evaluation.voc_data import VocDetections, VocGroundTruth
from rsdet.evaluation.voc_eval import VocProtocol, evaluate_voc

__all__ = [
    "AITOD_PARAMS",
    "COCO_PARAMS",
    "PROTOCOLS",
    "ApMode",
    "AreaRange",
    "CocoDetections",
    "CocoFormatError",
    "CocoGroundTruth",
    "CocoParams",
    "EvalResult",
    "EvaluationInputError",
    "ProtocolName",
    "SubmissionError",
    "VocDetections",
    "VocGroundTruth",
    "VocProtocol",
    "coco_tables",
    "dior_protocol",
    "dota_protocol",
    "evaluate",
    "evaluate_coco",
    "evaluate_voc",
    "read_coco_gt",
    "read_coco_results",
    "read_submission",
    "voc_protocol_for",
]
