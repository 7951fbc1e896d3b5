"""Label assigners: which priors of an image learn which ground-truth box.

All of them return one :class:`Assignment` (see :mod:`rsdet.models.assigners.assignment`):

* :class:`TaskAlignedAssigner` (TOOD / YOLOv8, soft targets), for RS-TinyNet's head;
* :class:`C2FAssigner`, DCFL's coarse-to-fine assigner on oriented boxes;
* :class:`MaxIoUAssigner`, the RetinaNet-O baseline of DCFL's ablations;
* :class:`MaxIoUHBoxAssigner`, mmdet v1's max-IoU rule on horizontal anchors and proposals
  (TinyDet's RPN and R-CNN).
"""

from rsdet.models.assigners.assignment import Assigner, Assignment
from rsdet.models.assigners.c2f import (
    AssignerFlags,
    C2FAssigner,
    gaussian_similarity,
    ignore_inside,
)
from rsdet.models.assigners.max_iou import MaxIoUAssigner
from rsdet.models.assigners.max_iou_hbox import MaxIoUHBoxAssigner
from rsdet.models.assigners.task_aligned import TaskAlignedAssigner, points_in_boxes

__all__ = [
    "Assigner",
    "AssignerFlags",
    "Assignment",
    "C2FAssigner",
    "MaxIoUAssigner",
    "MaxIoUHBoxAssigner",
    "TaskAlignedAssigner",
    "gaussian_similarity",
    "ignore_inside",
    "points_in_boxes",
]
