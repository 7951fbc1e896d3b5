"""ARB: the auxiliary reversible branch (RS-TinyNet's "feature integrity" module).

RS-TinyNet names the module and its purpose ("preserve information flow") only. The one
published module of that name is the training-only branch of YOLOv9's programmable gradient
information (Wang et al., "YOLOv9", arXiv 2402.13616; ``yolov9-c.yaml``: "multi-level
reversible auxiliary branch"), which this module follows:

* an *auxiliary backbone* with the main backbone's layout reads the image again, so the
  branch keeps the full input information that the main path may have squeezed out;
* ``CBLinear``: a 1x1 conv on each main backbone level ``j`` projects it into one split per
  auxiliary level ``i <= j`` (itself and every finer level);
* ``CBFuse``: after each auxiliary stage ``i``, the projections from main levels ``j >= i``
  are resized (nearest) to its grid and *added*; the sum feeds the next stage;
* an auxiliary head with its own assignment predicts on the auxiliary levels; its loss
  (weight 0.25 in YOLOv9) flows back through the projections into the main backbone, which
  therefore learns features from which complete, reliable gradients can be computed.

Nothing of it runs at inference: :meth:`RSTinyNet.deploy` deletes the branch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from rsdet.models.backbones import CSPBackbone
from rsdet.models.heads import DecoupledHead, HeadOutput

__all__ = ["AuxiliaryReversibleBranch"]


class AuxiliaryReversibleBranch(nn.Module):
    """YOLOv9-style auxiliary branch: auxiliary backbone + CBLinear/CBFuse + auxiliary head.

    Input: the standardised images (B, C, H, W) and the L main backbone maps at the head's
    strides (finest first). Output: the auxiliary head's :class:`HeadOutput`.

    Args:
        backbone: auxiliary backbone; its last L stages are the head's levels.
        main_channels: channels of the L main backbone maps.
        head: auxiliary head over the L auxiliary maps.
    """

    def __init__(
        self, backbone: CSPBackbone, main_channels: Sequence[int], head: DecoupledHead
    ) -> None:
        super().__init__()
        num_levels = len(main_channels)
        aux_channels = backbone.out_channels[-num_levels:]
        self.first_level = len(backbone.out_channels) - num_levels
        self.backbone = backbone
        self.head = head
        # CBLinear: main level j -> one split for each auxiliary level 0..j.
        self.splits = [list(aux_channels[: j + 1]) for j in range(num_levels)]
        self.project = nn.ModuleList(
            nn.Conv2d(main_channels[j], sum(self.splits[j]), 1) for j in range(num_levels)
        )

    def forward(self, images: Tensor, main_feats: Sequence[Tensor]) -> HeadOutput:
        """Run the auxiliary backbone with the main features fused in, then its head."""
        # (B, c_j, H_j, W_j) -> (B, sum(c_0..c_j), H_j, W_j) -> j + 1 splits
        proj = [
            p(f).split(s, dim=1)
            for p, f, s in zip(self.project, main_feats, self.splits, strict=True)
        ]
        x = self.backbone.stem(images)
        feats: list[Tensor] = []
        for s, stage in enumerate(self.backbone.stages):
            x = stage(x)
            i = s - self.first_level
            if i >= 0:  # CBFuse at auxiliary level i: add main levels i.. (coarser upsampled)
                for j in range(i, len(proj)):
                    x = x + F.interpolate(proj[j][i], size=x.shape[-2:], mode="nearest")
                feats.append(x)
        out: HeadOutput = self.head(feats)
        return out
