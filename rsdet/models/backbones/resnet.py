"""ResNet backbones (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

"pytorch" style (the stride of a bottleneck sits on its 3x3 conv, as in torchvision and in
DCFL's configs). Parameter names match torchvision's ``resnet{18,34,50,101}`` exactly, so an
ImageNet state-dict file saved from torchvision loads with :meth:`ResNet.load_weights`
without importing torchvision.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from rsdet.errors import InputError
from rsdet.models.backbones.base import Backbone

__all__ = ["ResNet"]

# depth -> (block kind, blocks per stage).
_DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}


def _conv_bn(c_in: int, c_out: int, k: int, s: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    return nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), nn.BatchNorm2d(c_out)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1 projection) shortcut; expansion 1."""

    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, width, 3, stride)
        self.conv2, self.bn2 = _conv_bn(width, width, 3)
        self.downsample = _projection(c_in, width, stride)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, width, H / stride, W / stride)."""
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here) -> 1x1 convs; expansion 4."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, width, 1)
        self.conv2, self.bn2 = _conv_bn(width, width, 3, stride)
        self.conv3, self.bn3 = _conv_bn(width, width * 4, 1)
        self.downsample = _projection(c_in, width * 4, stride)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, 4 width, H / stride, W / stride)."""
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


def _projection(c_in: int, c_out: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(*_conv_bn(c_in, c_out, 1, stride))


class ResNet(Backbone):
    """ResNet feature extractor returning C2-C5.

    Input (B, 3, H, W) standardised images; output a list of four maps at strides 4, 8, 16
    and 32 with ``out_channels`` channels (256/512/1024/2048 for depth 50). The classifier
    (``fc``) is not built.

    Args:
        depth: 18, 34, 50 (DCFL's default) or 101.
        frozen_stages: stages whose weights stay fixed: 0 none, 1 the stem and ``layer1``
            (DCFL's setting with ImageNet weights), up to 4.
        norm_eval: keep every BatchNorm in eval mode while training (DCFL's setting with
            ImageNet weights: a batch of two tiles gives useless batch statistics).
        in_channels: input bands.
    """

    def __init__(
        self, depth: int = 50, frozen_stages: int = 1, norm_eval: bool = True, in_channels: int = 3
    ) -> None:
        super().__init__()
        if depth not in _DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(_DEPTHS)}, got {depth}")
        kind, blocks = _DEPTHS[depth]
        block: type[BasicBlock] | type[Bottleneck] = BasicBlock if kind == "basic" else Bottleneck
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)  # 3->64/2
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)  # 64/4
        c_in, stages = 64, []
        for i, n in enumerate(blocks):
            width, stride = 64 * 2**i, 1 if i == 0 else 2
            layers = [block(c_in, width, stride)]
            c_in = width * block.expansion
            layers += [block(c_in, width, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.strides = (4, 8, 16, 32)
        self.out_channels = tuple(64 * 2**i * block.expansion for i in range(4))
        self._init_weights()
        self._freeze()

    def _init_weights(self) -> None:
        """He init; each block's last BN starts at 0, so a net from scratch starts near identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                last = m.bn3 if isinstance(m, Bottleneck) else m.bn2
                nn.init.zeros_(last.weight)

    def _frozen_modules(self) -> list[nn.Module]:
        stem: list[nn.Module] = [self.conv1, self.bn1]
        stages: list[nn.Module] = [self.layer1, self.layer2, self.layer3, self.layer4]
        return (stem + stages[: self.frozen_stages]) if self.frozen_stages > 0 else []

    def _freeze(self) -> None:
        for m in self._frozen_modules():
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> ResNet:
        """Switch mode, keeping frozen stages (and all BN when ``norm_eval``) in eval mode."""
        super().train(mode)
        if mode:
            for m in self._frozen_modules():
                m.eval()
            if self.norm_eval:
                for m in self.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, 3, H, W) -> [C2 (stride 4), C3 (8), C4 (16), C5 (32)]."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # 3->64/4
        c2 = self.layer1(x)  # 64->256/4 (depth 50)
        c3 = self.layer2(c2)  # 256->512/8
        c4 = self.layer3(c3)  # 512->1024/16
        c5 = self.layer4(c4)  # 1024->2048/32
        return [c2, c3, c4, c5]

    def load_weights(self, path: str | Path) -> None:
        """Load a torchvision-style ResNet state dict (e.g. ImageNet weights) from a file.

        The file may hold the state dict itself or ``{"state_dict": ...}``; a ``module.``
        prefix (DataParallel) is removed and the classifier ``fc.*`` is skipped.

        Raises:
            InputError: unreadable file, or weights that do not fit this depth.
        """
        path = Path(path)
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for missing or corrupt files
            raise InputError(
                f"{path}: cannot read backbone weights ({type(err).__name__})"
            ) from err
        state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
        if not isinstance(state, dict):
            raise InputError(f"{path}: not a state dict")
        state = {k.removeprefix("module."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).splitlines()[0]
            raise InputError(f"{path}: weights do not fit this ResNet ({first})") from err
