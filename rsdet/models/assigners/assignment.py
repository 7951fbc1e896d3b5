"""The result every label assigner returns, and the call signature DCFL's head expects.

An assigner labels the N priors of one image against the M ground-truth boxes it was given.
Conventions, stated once for every assigner:

* a prior is **positive** for gt ``m`` when ``gt_index == m``, an index into the boxes the
  assigner was given;
* a prior is **ignored** when it gets no classification loss at all: it lies in an ignore
  region, or the assigner leaves it between positive and negative. A positive is never
  ignored;
* every other prior is **negative**: its classification target is background.

Positives carry per-positive targets, one row per positive in the order of ``pos``: a
classification target ``quality`` (at the class of its gt) and a box-loss weight
``box_weight``. Hard assigners (coarse-to-fine, max-IoU) give 1 for both; the task-aligned
assigner gives soft values (see :mod:`rsdet.models.assigners.task_aligned`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from rsdet.structures import RBoxes

__all__ = ["Assigner", "Assignment"]


@dataclass(frozen=True)
class Assignment:
    """Training labels of the N priors of one image (conventions: module docstring).

    Attributes:
        gt_index: (N,) int64 gt of each positive, -1 for every other prior.
        ignored: (N,) bool; True for priors without classification loss, never a positive.
        pos: (P,) int64 the positive priors (those with ``gt_index >= 0``), in the order of
            the rows of ``quality`` and ``box_weight``.
        quality: (P,) float in [0, 1], classification target of each positive.
        box_weight: (P,) float in [0, 1], weight of each positive's box loss.
    """

    gt_index: Tensor
    ignored: Tensor
    pos: Tensor
    quality: Tensor
    box_weight: Tensor

    @property
    def positive(self) -> Tensor:
        """(N,) bool mask of positives."""
        return self.gt_index >= 0

    @classmethod
    def hard(cls, gt_index: Tensor, ignored: Tensor) -> Assignment:
        """Hard labels: positives in ascending order, each with quality and box weight 1.

        Args:
            gt_index: (N,) int64 gt of each positive, -1 otherwise.
            ignored: (N,) bool, False wherever ``gt_index >= 0``.
        """
        pos = torch.nonzero(gt_index >= 0).squeeze(1)
        ones = torch.ones(pos.numel(), device=gt_index.device)
        return cls(gt_index, ignored, pos, ones, ones)


class Assigner(Protocol):
    """What the DCFL head needs from an assigner (coarse-to-fine or max-IoU)."""

    def __call__(
        self, priors: Tensor, moved: Tensor, gts: RBoxes, logits: Tensor, deltas: Tensor
    ) -> Assignment:
        """Assign priors of one image; arguments as in :meth:`.C2FAssigner.__call__`."""
        ...
