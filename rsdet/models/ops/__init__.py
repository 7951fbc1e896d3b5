"""Operators written in plain torch because torchvision's compiled ops do not load with our torch.

Each is tested against a direct reference implementation.
"""

from rsdet.models.ops.deform_conv import ModulatedDeformConv2d, deform_conv2d
from rsdet.models.ops.psroi_align import psroi_align

__all__ = ["ModulatedDeformConv2d", "deform_conv2d", "psroi_align"]
