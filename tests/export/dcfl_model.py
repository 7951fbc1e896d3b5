"""A small DCFL with random weights that still finds many oriented boxes, for export tests.

Weights are re-drawn so that scores spread over (0, 1) and boxes vary in size and angle
(DCFL's own init gives every prior a score of 0.01 and the prior's box).
"""

from __future__ import annotations

import torch
from torch import nn

from rsdet.config import to_dict
from rsdet.models.dcfl import DCFL, DCFLConfig, build_dcfl
from rsdet.models.layers import fuse_conv_bn
from rsdet.models.spec import InputSpec, ModelSpec

CONFIG = DCFLConfig(num_classes=1, backbone="csp-n", neck_channels=32, feat_channels=32)


def dcfl_with_objects(seed: int = 0) -> tuple[DCFL, ModelSpec, dict]:
    """(eval network with BatchNorm folded, its spec, its arch config)."""
    torch.manual_seed(seed)
    net = build_dcfl(CONFIG, load_weights=False).eval()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    nn.init.normal_(net.head.cls_out.weight, std=1.0)
    nn.init.constant_(net.head.cls_out.bias, -1.0)
    nn.init.normal_(net.head.reg_out.weight, std=0.05)
    fuse_conv_bn(net)
    spec = ModelSpec(
        arch="dcfl",
        classes=("object",),
        box_type="rbox",
        input=InputSpec(mean=(0.45,), std=(0.225,), gsd_m=0.5),
        tile_size=256,
        overlap=64,
        score_thr=0.3,
        iou_thr=0.4,
    )
    return net, spec, to_dict(CONFIG)
