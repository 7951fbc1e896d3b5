"""Mobile inverted-bottleneck blocks and the network frame MobileNetV3 and EfficientNet share.

Both families are a 3x3 stride-2 stem followed by stages of two block kinds:

* depthwise-separable (``ds``): k x k depthwise conv -> [SE] -> 1x1 conv, used where a row's
  expansion equals its input width (MobileNetV3's first row, EfficientNet's first stage);
* inverted residual (``ir``, MBConv): 1x1 expand -> k x k depthwise -> [SE] -> 1x1 linear
  projection;

each with an identity shortcut when the stride is 1 and the width does not change.

Parameter names are timm's (``timm/models/_efficientnet_blocks.py``): ``conv_stem``, ``bn1``,
``blocks.<stage>.<block>.{conv_pw, bn1, conv_dw, bn2, se.conv_reduce, se.conv_expand,
conv_pwl, bn3}``, ``conv_head``, ``classifier``; a timm state dict therefore loads as it is,
and :mod:`rsdet.models.backbones.keymaps` renames torchvision's and TinyDet's.

The *feature-alignment trick* of TinyDet (Chen et al. 2023, Sec. 3.1.2) is the ``align``
switch: a 2x2, stride-1, unpadded average pool before every stride-2 depthwise conv (never
before the stem), as in ``hustvl/TinyDet: mmdet_extra/mobilenetv3_bc.py``. A k x k stride-2
conv with padding k // 2 centres output cell ``j`` on input cell ``2j``, half an input cell
before the centre of the 2x2 cells it stands for; the pool moves the grid by that half cell.
Output sizes are unchanged for even inputs, and the pool has no parameters, so weights load
either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rsdet.models.backbones.base import Backbone

__all__ = [
    "Act",
    "BlockSpec",
    "Classifier",
    "ConvBnAct",
    "ConvSpec",
    "DepthwiseSeparable",
    "Family",
    "InvertedResidual",
    "MBConvNet",
    "NetSpec",
    "SEStyle",
    "SqueezeExcite",
    "Stage",
    "build_stage",
    "global_pool",
    "init_weights",
    "make_act",
    "make_divisible",
]

Act = Literal["relu", "hswish", "swish"]
# The head layout and torchvision key layout: MobileNetV3 or EfficientNet.
Family = Literal["mobilenetv3", "efficientnet"]


def make_divisible(v: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """``v`` rounded to a multiple of ``divisor``, never more than 10 % below ``v``.

    The nearest multiple (at least ``divisor``), bumped up by one ``divisor`` if rounding lost
    more than ``1 - round_limit`` of ``v``: the rule of the TensorFlow MobileNet and
    EfficientNet code, timm's ``make_divisible`` and torchvision's ``_make_divisible``. E.g.
    0.54 x 16 = 8.64 -> 8, 0.54 x 40 = 21.6 -> 24, 0.75 x 40 = 30 -> 32.
    """
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < round_limit * v else new_v


def make_act(act: Act) -> nn.Module:
    """The activation module: ReLU, h-swish ``x relu6(x + 3) / 6`` or swish (SiLU)."""
    if act == "relu":
        return nn.ReLU(inplace=True)
    if act == "hswish":
        return nn.Hardswish(inplace=True)
    return nn.SiLU(inplace=True)


@dataclass(frozen=True)
class SEStyle:
    """How a family builds squeeze-and-excitation (the squeeze width is per block).

    Attributes:
        act: activation between the two 1x1 convs (ReLU in MobileNetV3, the block's swish in
            EfficientNet).
        gate: ``sigmoid`` (EfficientNet) or ``hsigmoid`` = relu6(x + 3) / 6 (MobileNetV3).
        bias: the 1x1 convs have biases (timm, torchvision) or not (TinyDet).
    """

    act: Act
    gate: Literal["sigmoid", "hsigmoid"]
    bias: bool


@dataclass(frozen=True)
class BlockSpec:
    """One row of a network table: a ``ds`` block when ``exp`` equals the input width, else ``ir``.

    Attributes:
        k: depthwise kernel size.
        exp: expanded width (the depthwise conv's channels).
        out: output width.
        se: squeeze width of the SE module, 0 for none.
        act: activation after the expansion and the depthwise conv.
        stride: of the depthwise conv (1 or 2).
    """

    k: int
    exp: int
    out: int
    se: int
    act: Act
    stride: int


@dataclass(frozen=True)
class ConvSpec:
    """A 1x1 conv + BN + activation row (MobileNetV3's "conv2d 1x1, 960" before the pool)."""

    out: int
    act: Act


# A stage: blocks in order, or one 1x1 conv (MobileNetV3's last conv).
Stage = tuple[BlockSpec, ...] | ConvSpec


class SqueezeExcite(nn.Module):
    """``x * gate(W2 act(W1 mean_hw(x)))`` with 1x1 convs; (B, C, H, W) -> same."""

    def __init__(self, channels: int, squeeze: int, style: SEStyle) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, squeeze, 1, bias=style.bias)
        self.act1 = nn.ReLU(inplace=True) if style.act == "relu" else make_act(style.act)
        self.conv_expand = nn.Conv2d(squeeze, channels, 1, bias=style.bias)
        self.gate: nn.Module = nn.Hardsigmoid() if style.gate == "hsigmoid" else nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        """Reweight the channels of ``x``."""
        s = self.conv_expand(self.act1(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        out: Tensor = x * self.gate(s)
        return out


class ConvBnAct(nn.Module):
    """1x1 conv -> BN -> activation (timm's ``cn`` block: keys ``conv``, ``bn1``)."""

    def __init__(self, c_in: int, spec: ConvSpec) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, spec.out, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(spec.out)
        self.act = make_act(spec.act)

    def forward(self, x: Tensor) -> Tensor:
        """(B, c_in, H, W) -> (B, out, H, W)."""
        out: Tensor = self.act(self.bn1(self.conv(x)))
        return out


def _se(channels: int, spec: BlockSpec, style: SEStyle) -> nn.Module:
    return SqueezeExcite(channels, spec.se, style) if spec.se else nn.Identity()


def _depthwise(x: Tensor, conv: nn.Conv2d, align: bool) -> Tensor:
    """The depthwise conv, after the 2x2 stride-1 average pool when aligning a strided one."""
    if align:  # TinyDet: F.avg_pool2d(out, 2, 1, 0, False, True)
        x = F.avg_pool2d(x, 2, 1, 0, ceil_mode=False, count_include_pad=True)
    out: Tensor = conv(x)
    return out


class DepthwiseSeparable(nn.Module):
    """k x k depthwise -> BN act -> [SE] -> 1x1 -> BN; (B, C, H, W) -> (B, out, H/s, W/s)."""

    def __init__(self, c_in: int, spec: BlockSpec, style: SEStyle, align: bool) -> None:
        super().__init__()
        pad = spec.k // 2
        self.conv_dw = nn.Conv2d(c_in, c_in, spec.k, spec.stride, pad, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.act1 = make_act(spec.act)
        self.se = _se(c_in, spec, style)
        self.conv_pw = nn.Conv2d(c_in, spec.out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(spec.out)
        self.has_skip = spec.stride == 1 and c_in == spec.out
        self.align = align and spec.stride == 2

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        y: Tensor = self.act1(self.bn1(_depthwise(x, self.conv_dw, self.align)))  # C, /stride
        y = self.bn2(self.conv_pw(self.se(y)))  # C -> out, no activation
        return x + y if self.has_skip else y


class InvertedResidual(nn.Module):
    """1x1 expand -> BN act -> k x k depthwise -> BN act -> [SE] -> 1x1 project -> BN.

    (B, C, H, W) -> (B, out, H / stride, W / stride); identity shortcut when stride 1 and
    C == out.
    """

    def __init__(self, c_in: int, spec: BlockSpec, style: SEStyle, align: bool) -> None:
        super().__init__()
        e = spec.exp
        self.conv_pw = nn.Conv2d(c_in, e, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(e)
        self.act1 = make_act(spec.act)
        self.conv_dw = nn.Conv2d(e, e, spec.k, spec.stride, spec.k // 2, groups=e, bias=False)
        self.bn2 = nn.BatchNorm2d(e)
        self.act2 = make_act(spec.act)
        self.se = _se(e, spec, style)
        self.conv_pwl = nn.Conv2d(e, spec.out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(spec.out)
        self.has_skip = spec.stride == 1 and c_in == spec.out
        self.align = align and spec.stride == 2

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        y: Tensor = self.act1(self.bn1(self.conv_pw(x)))  # C -> exp
        y = self.act2(self.bn2(_depthwise(y, self.conv_dw, self.align)))  # exp, /stride
        y = self.bn3(self.conv_pwl(self.se(y)))  # exp -> out, no activation
        return x + y if self.has_skip else y


def build_stage(c_in: int, specs: Stage, style: SEStyle, align: bool) -> nn.Sequential:
    """One stage: its blocks in order, each fed the previous one's width."""
    if isinstance(specs, ConvSpec):
        return nn.Sequential(ConvBnAct(c_in, specs))
    blocks: list[nn.Module] = []
    for spec in specs:
        kind = DepthwiseSeparable if spec.exp == c_in else InvertedResidual
        blocks.append(kind(c_in, spec, style, align))
        c_in = spec.out
    return nn.Sequential(*blocks)


def stage_out(c_in: int, specs: Stage) -> int:
    """Output width of a stage."""
    return specs.out if isinstance(specs, ConvSpec) else specs[-1].out if specs else c_in


def stage_stride(specs: Stage) -> int:
    """Total stride of a stage."""
    return 1 if isinstance(specs, ConvSpec) else math.prod(s.stride for s in specs)


def init_weights(module: nn.Module) -> None:
    """The initialisation of timm's ``_init_weight_goog`` (TensorFlow's reference code).

    Convs: normal(0, sqrt(2 / fan_out)), fan_out = k * k * out / groups, bias 0; BN 1 / 0;
    linear: uniform(+-1 / sqrt(in_features + out_features)), bias 0. (timm leaves out
    ``in_features``, which for a few classes starts with logits of +-10.)
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.in_features + m.out_features)
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


@dataclass(frozen=True)
class NetSpec:
    """A whole network: stem, stages, which stages to tap, and the stride-64 extra stage.

    Attributes:
        stem: width of the 3x3 stride-2 stem conv.
        stem_act: its activation.
        stages: the stages in order (the last may be a 1x1 :class:`ConvSpec`).
        taps: indices of the stages whose outputs are the stride 4, 8, 16 and 32 maps.
        extra: blocks after the stride-32 tap making the stride-64 map (TinyDet), or ().
        se: how SE modules are built.
        align: the design uses the feature-alignment pool (TinyDet's backbones do).
    """

    stem: int
    stem_act: Act
    stages: tuple[Stage, ...]
    taps: tuple[int, int, int, int]
    extra: tuple[BlockSpec, ...]
    se: SEStyle
    align: bool = False


# Coarsest output stride -> number of taps among the stride 4/8/16/32 ones.
_TAPS_FOR_STRIDE = {8: 2, 16: 3, 32: 4, 64: 4}


class MBConvNet(Backbone):
    """Stem, stages tapped at strides 4, 8, 16, 32 (and 64), and an optional ImageNet head.

    ``forward(images)``: (B, C, H, W) -> one map per tapped stage, finest first,
    (B, out_channels[i], H / strides[i], W / strides[i]). ``classify(images)``: (B, C, H, W)
    -> (B, num_classes) logits, when built with a head (subclasses build it in ``head``).

    Args:
        spec: the network (kept as ``spec``).
        in_channels: image bands.
        max_stride: coarsest output: 8, 16, 32, or 64 (only with ``spec.extra``).
        align: the feature-alignment pool before stride-2 depthwise convs.
        classify: build every stage (a head follows); only with ``max_stride`` 32.

    Attributes:
        conv_stem, bn1: the stem conv and its BN.
        blocks: the stages (``nn.Sequential`` of ``nn.Sequential``), as far as needed.
        extra: the stride-64 stage; empty when not built.
        taps: indices of the stages whose outputs are returned.
        num_features: width of the last built stage (the head's input).
    """

    family: ClassVar[Family]
    num_classes: int | None = None

    def __init__(
        self, spec: NetSpec, in_channels: int, max_stride: int, align: bool, classify: bool
    ) -> None:
        super().__init__()
        _check_levels(spec, max_stride, classify)
        self.spec = spec
        n_taps = _TAPS_FOR_STRIDE[max_stride]
        last = len(spec.stages) - 1 if classify else spec.taps[n_taps - 1]
        self.conv_stem = nn.Conv2d(in_channels, spec.stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(spec.stem)
        self.act1 = make_act(spec.stem_act)
        c, stride, widths, strides = spec.stem, 2, [], []
        stages = []
        for i, stage in enumerate(spec.stages[: last + 1]):
            stages.append(build_stage(c, stage, spec.se, align))
            c, stride = stage_out(c, stage), stride * stage_stride(stage)
            if i in spec.taps[:n_taps]:
                widths.append(c)
                strides.append(stride)
        self.blocks = nn.Sequential(*stages)
        self.num_features = c
        self.extra = nn.Sequential()
        if max_stride == 64:  # TinyDet's extra stage, fed by the stride-32 tap
            self.extra = build_stage(widths[-1], spec.extra, spec.se, align)
            widths.append(stage_out(widths[-1], spec.extra))
            strides.append(strides[-1] * stage_stride(spec.extra))
        self.taps = spec.taps[:n_taps]
        self.strides, self.out_channels = tuple(strides), tuple(widths)

    def forward(self, images: Tensor) -> list[Tensor]:
        """Multi-scale maps of the tapped stages, finest first."""
        x = self.act1(self.bn1(self.conv_stem(images)))  # C -> stem /2
        feats = []
        for i, stage in enumerate(self.blocks):
            if i > self.taps[-1]:
                break  # a stage only the classification head uses
            x = stage(x)
            if i in self.taps:
                feats.append(x)
        if len(self.extra):
            feats.append(self.extra(feats[-1]))  # /64
        return feats

    def named_stages(self) -> dict[str, nn.Module]:
        """Stem conv and norm, each built stage (``blocks.i``), and the extra stage if any."""
        parts: dict[str, nn.Module] = {"conv_stem": self.conv_stem, "bn1": self.bn1}
        parts.update({f"blocks.{i}": stage for i, stage in enumerate(self.blocks)})
        if len(self.extra):
            parts["extra"] = self.extra
        return parts

    def classify(self, images: Tensor) -> Tensor:
        """(B, C, H, W) images -> (B, num_classes) logits (needs a head: ``num_classes``)."""
        if self.num_classes is None:
            raise RuntimeError(f"{type(self).__name__} was built without a classification head")
        x = self.act1(self.bn1(self.conv_stem(images)))
        return self.head(self.blocks(x))

    def head(self, x: Tensor) -> Tensor:
        """Last stage's map (B, C, h, w) -> (B, num_classes) logits (subclasses implement it)."""
        raise NotImplementedError


def _check_levels(spec: NetSpec, max_stride: int, classify: bool) -> None:
    if max_stride not in _TAPS_FOR_STRIDE:
        raise ValueError(f"max_stride must be 8, 16, 32 or 64, got {max_stride}")
    if max_stride == 64 and not spec.extra:
        raise ValueError("this network has no stride-64 stage: max_stride must be <= 32")
    if classify and max_stride != 32:
        raise ValueError(f"a classification head needs max_stride 32, got {max_stride}")


class Classifier(nn.Module):
    """A network built with a head, seen as one ``images -> logits`` module.

    For tools that call ``module(images)`` (FLOP counting, a training loop): (B, C, H, W) ->
    (B, num_classes). Its state-dict keys carry the prefix ``net.``.
    """

    def __init__(self, net: MBConvNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: Tensor) -> Tensor:
        """Logits of ``images``."""
        return self.net.classify(images)


def global_pool(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, 1, 1) spatial mean."""
    return torch.mean(x, dim=(2, 3), keepdim=True)
