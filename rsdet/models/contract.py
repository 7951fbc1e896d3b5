"""The contract between a detector network and everything that runs it.

A detector network is a :class:`DetectorNetwork`. Everything outside the network (the
:class:`~rsdet.models.detector.Detector` wrapper, scene detection, validation, FLOP counting,
ONNX export and, next, compression) uses only what is written here::

    images (B, C, H, W) standardised, H and W multiples of size_divisor
      -> network(images)                    raw head outputs: tensors only (what export traces)
      -> network.decode(raw, (H, W), post)  one Detections per image, in input pixels
      -> network.dense_predictions(raw, (H, W))  every prior's box and scores, before NMS

    training: network(images, targets) -> {loss name: scalar}, summed by the engine

Post-processing thresholds are arguments (:class:`Postprocess`), never state on the network,
so one network serves a run at score 0.3 and a validation at 0.001 without being changed.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor, nn

from rsdet.models.spec import BoxType, Postprocess
from rsdet.structures import Detections, Targets

__all__ = ["DetectorNetwork"]

RawT = TypeVar("RawT")


class DetectorNetwork(nn.Module, Generic[RawT], metaclass=ABCMeta):
    """Base class of rsdet detector networks (see the module docstring for the data path).

    Subclasses implement :meth:`forward` and :meth:`decode`, and set the two class
    attributes. ``RawT`` is the network's raw output: a tuple of tensors or of lists of
    tensors, nothing else, so that it can be traced.

    Attributes:
        size_divisor: input height and width must be multiples of this (padding is the
            caller's job; :class:`~rsdet.models.detector.Detector` pads with the mean colour).
        box_type: ``"hbox"`` (HBoxes) or ``"rbox"`` (RBoxes) in the decoded detections.
    """

    size_divisor: int
    box_type: BoxType

    @abstractmethod
    def forward(self, images: Tensor, targets: Sequence[Targets] | None = None) -> Any:
        """Raw outputs (``RawT``) of ``images``; the loss dict when ``targets`` are given.

        Args:
            images: (B, C, H, W) standardised float images, H and W multiples of
                :attr:`size_divisor`.
            targets: one per image, boxes in input pixels. Required in train mode (a
                ValueError without them).

        Returns:
            ``RawT`` without targets; ``dict[str, Tensor]`` of scalar losses with targets.
        """

    @abstractmethod
    def decode(
        self, raw: RawT, image_hw: tuple[int, int], postprocess: Postprocess
    ) -> list[Detections]:
        """One :class:`Detections` per image from the raw outputs of :meth:`forward`.

        Args:
            raw: the raw outputs of a batch.
            image_hw: ``(height, width)`` of the network input, pixels.
            postprocess: thresholds and caps.

        Returns:
            Boxes in input pixels (HBoxes clipped to the input, or RBoxes in rsdet's le90
            convention), scores in (0, 1), 0-based labels; best first after NMS.
        """

    def dense_predictions(self, raw: RawT, image_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Every prior's box and class scores, before any threshold or NMS.

        What a runtime that filters and suppresses on its own needs (the Deepness QGIS
        plugin reads this from an exported file, see :mod:`rsdet.export.deepness`); it is
        traceable, and :meth:`decode` applied to the same ``raw`` keeps a subset of it.

        Args:
            raw: the raw outputs of a batch.
            image_hw: ``(height, width)`` of the network input, pixels.

        Returns:
            ``boxes`` (B, N, 4) ``x1 y1 x2 y2`` clipped to the input, or (B, N, 5) le90
            ``cx cy w h theta``, in input pixels; ``scores`` (B, N, K) in (0, 1).

        Raises:
            NotImplementedError: the network has no dense form.
        """
        raise NotImplementedError(f"{type(self).__name__} gives no dense predictions")

    def deploy(self) -> DetectorNetwork[RawT]:
        """Remove training-only parts in place (outputs unchanged); returns ``self``."""
        return self

    @torch.no_grad()
    def detect(self, images: Tensor, postprocess: Postprocess) -> list[Detections]:
        """:meth:`forward` then :meth:`decode`: detections per image, in input pixels."""
        height, width = images.shape[-2:]
        raw: RawT = self(images)
        return self.decode(raw, (int(height), int(width)), postprocess)
