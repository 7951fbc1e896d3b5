"""Settings of the COCO-style protocols (``coco`` and ``aitod``) and their metric names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AITOD_PARAMS", "COCO_PARAMS", "AreaRange", "CocoParams"]

# The exact floats pycocotools uses (np.linspace), so that `iou == 0.75` lookups and the
# recall grid (e.g. 0.35000000000000003) match it bit for bit.
_IOU_THRESHOLDS = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))
_RECALL_THRESHOLDS = tuple(float(r) for r in np.linspace(0.0, 1.0, 101))


@dataclass(frozen=True)
class AreaRange:
    """An object-size bin, by area in square pixels, inclusive at both ends.

    Attributes:
        label: suffix of the metric names (``APs``, ``ARvt``); empty for the "all" range.
        low, high: bounds in px²; an object is inside when ``low <= area <= high``.
    """

    label: str
    low: float
    high: float


@dataclass(frozen=True)
class CocoParams:
    """One COCO-style protocol.

    Attributes:
        name: protocol name written into results.
        max_dets: per image and class detection caps, ascending; the last one is used for
            every AP and per-size metric.
        area_ranges: size bins; the first must be the all-sizes bin (empty label).
        iou_thresholds: IoU thresholds (a match needs ``IoU >= t``).
        recall_thresholds: the recall grid of the interpolated precision (101 points).
    """

    name: str
    max_dets: tuple[int, ...]
    area_ranges: tuple[AreaRange, ...]
    iou_thresholds: tuple[float, ...] = _IOU_THRESHOLDS
    recall_thresholds: tuple[float, ...] = _RECALL_THRESHOLDS

    def __post_init__(self) -> None:
        if list(self.max_dets) != sorted(self.max_dets) or not self.max_dets:
            raise ValueError(f"max_dets must be ascending and non-empty, got {self.max_dets}")
        if not self.area_ranges or self.area_ranges[0].label != "":
            raise ValueError("the first area range must be the all-sizes range (label '')")

    def metric_names(self) -> tuple[str, ...]:
        """Names of the summary metrics, in report order."""
        sizes = [r.label for r in self.area_ranges[1:]]
        return (
            "AP",
            "AP50",
            "AP75",
            *(f"AP{s}" for s in sizes),
            *(f"AR{m}" for m in self.max_dets),
            *(f"AR{s}" for s in sizes),
        )


_BIG = 1e5**2  # pycocotools' "no upper bound"

COCO_PARAMS = CocoParams(
    name="coco",
    max_dets=(1, 10, 100),
    area_ranges=(
        AreaRange("", 0.0, _BIG),
        AreaRange("s", 0.0, 32.0**2),
        AreaRange("m", 32.0**2, 96.0**2),
        AreaRange("l", 96.0**2, _BIG),
    ),
)

# AI-TOD (jwwangchn/cocoapi-aitod, Params.setDetParams): very tiny / tiny / small / medium.
AITOD_PARAMS = CocoParams(
    name="aitod",
    max_dets=(1, 100, 1500),
    area_ranges=(
        AreaRange("", 0.0, _BIG),
        AreaRange("vt", 0.0, 8.0**2),
        AreaRange("t", 8.0**2, 16.0**2),
        AreaRange("s", 16.0**2, 32.0**2),
        AreaRange("m", 32.0**2, _BIG),
    ),
)
