"""Box geometry and annotated images: typed boxes, overlaps, NMS, Gaussian box distances.

See :mod:`rsdet.structures.rboxes` for the single angle convention used everywhere and
:mod:`rsdet.structures.sample` for :class:`Sample`, the annotated image every dataset reader
produces.
"""

from rsdet.structures.detections import Detections
from rsdet.structures.gaussian import bhattacharyya_distance, gjsd, kld, rboxes_to_gaussian
from rsdet.structures.hboxes import HBoxes, box_iou, pairwise_iof, pairwise_ios, pairwise_iou
from rsdet.structures.nms import batched_nms, greedy_keep, nms
from rsdet.structures.rboxes import RBoxes, norm_angle
from rsdet.structures.rotated_iou import (
    pairwise_rotated_iof,
    pairwise_rotated_ios,
    pairwise_rotated_iou,
    quad_intersection_area,
    rotated_iou,
)
from rsdet.structures.sample import DIFFICULT, NORMAL, TRUNCATED, Sample
from rsdet.structures.soft_nms import soft_nms
from rsdet.structures.spatial import overlapping_pairs
from rsdet.structures.targets import Targets

__all__ = [
    "DIFFICULT",
    "NORMAL",
    "TRUNCATED",
    "Detections",
    "HBoxes",
    "RBoxes",
    "Sample",
    "Targets",
    "batched_nms",
    "bhattacharyya_distance",
    "box_iou",
    "gjsd",
    "greedy_keep",
    "kld",
    "nms",
    "norm_angle",
    "overlapping_pairs",
    "pairwise_iof",
    "pairwise_ios",
    "pairwise_iou",
    "pairwise_rotated_iof",
    "pairwise_rotated_ios",
    "pairwise_rotated_iou",
    "quad_intersection_area",
    "rboxes_to_gaussian",
    "rotated_iou",
    "soft_nms",
]
