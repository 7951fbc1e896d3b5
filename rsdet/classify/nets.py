"""The networks of ``rsdet classify``: MLP, the report's TinyNet CNN, InceptionV3, TinyNet-A..E.

Every network maps (B, 3, S, S) standardised images to (B, num_classes) logits.

* :class:`PixelMLP`: flattened pixels -> hidden ReLU layers -> logits (the report's §VI).
* :class:`TinyCNN`: the report's final "TinyNet" (arXiv 2105.04895 §IX), rebuilt layer by
  layer: stride-2 blocks ``Conv 3x3 s2 p1 (no bias) -> BN -> LeakyReLU`` (or, ``depthwise``,
  ``dw 3x3 s2 -> BN -> LeakyReLU -> pw 1x1 -> BN -> LeakyReLU``), then global average
  pooling and a linear layer. The seven parameter counts of its tables are pinned in
  tests/classify/test_nets.py (390,952 for [32, 64, 128, 256] ... 3,913 for dw [16, 32, 64]).
* :class:`InceptionV3`: torchvision's layout and parameter names without the auxiliary
  head, so a local torchvision ImageNet state dict loads (``AuxLogits.*`` and a
  mismatched ``fc`` are skipped). Nothing is downloaded.
* Huawei's TinyNet-A..E: :func:`tinynet_classifier`, the backbones package's EfficientNet
  with its head, wrapped in the shared :class:`~rsdet.models.backbones.Classifier`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from rsdet.errors import InputError
from rsdet.models.backbones import TINYNETS, Classifier, EfficientNet

__all__ = ["InceptionV3", "PixelMLP", "TinyCNN", "load_torchvision_inception", "tinynet_classifier"]


class PixelMLP(nn.Module):
    """(B, 3, S, S) -> flatten -> [Linear -> ReLU] per hidden width -> (B, num_classes)."""

    def __init__(self, size: int, hidden: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = 3 * size * size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        """Logits (B, num_classes)."""
        out: Tensor = self.layers(images)
        return out


def _cbl(cin: int, cout: int, k: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.01, inplace=True),
    ]


class TinyCNN(nn.Module):
    """The report's TinyNet: stride-2 blocks of ``widths``, pool, linear (input /2 per block).

    Args:
        widths: output channels per block, e.g. (32, 64, 128, 256).
        depthwise: depthwise-separable blocks.
        num_classes: logits.
    """

    def __init__(self, widths: tuple[int, ...], depthwise: bool, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for c in widths:
            if depthwise:
                layers += _cbl(cin, cin, 3, 2, groups=cin) + _cbl(cin, c, 1, 1)
            else:
                layers += _cbl(cin, c, 3, 2)
            cin = c
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # the report's best: He init for LeakyReLU
                nn.init.kaiming_normal_(m.weight, nonlinearity="leaky_relu")

    def forward(self, images: Tensor) -> Tensor:
        """Logits (B, num_classes)."""
        x = self.features(images).mean(dim=(2, 3))  # (B, widths[-1])
        out: Tensor = self.fc(x)
        return out


def tinynet_classifier(size: str, num_classes: int) -> Classifier:
    """Huawei TinyNet-``size`` (``a`` ... ``e``) with a ``num_classes`` head."""
    if size not in TINYNETS:
        raise InputError(f"tinynet-{size}: unknown size (known: {', '.join(TINYNETS)})")
    return Classifier(EfficientNet(TINYNETS[size], num_classes=num_classes))


class _Conv(nn.Module):
    """torchvision's BasicConv2d: conv (no bias) -> BN (eps 1e-3) -> ReLU."""

    def __init__(self, cin: int, cout: int, k: int | tuple[int, int], **kw: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, bias=False, **kw)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.bn(self.conv(x)))


def _pool(x: Tensor) -> Tensor:
    return nn.functional.avg_pool2d(x, 3, 1, 1)


class _A(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | pool-1x1 -> 224 + pool_features."""

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = _Conv(cin, 48, 1), _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_pool(x))], 1)


class _B(nn.Module):
    """35 -> 17 reduction: 3x3 s2 | 1x1-3x3-3x3 s2 | max pool."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, nn.functional.max_pool2d(x, 3, 2)], 1)


def _seven(cin: int, c7: int, cout: int, first_wide: bool) -> list[_Conv]:
    """1x7 / 7x1 factorised pair, in torchvision's order."""
    wide, tall = ((1, 7), (0, 3)), ((7, 1), (3, 0))
    a, b = (wide, tall) if first_wide else (tall, wide)
    return [_Conv(cin, c7, a[0], padding=a[1]), _Conv(c7, cout, b[0], padding=b[1])]


class _C(nn.Module):
    """17x17 block with factorised 7x7 convs, 768 channels out."""

    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1 = _Conv(cin, c7, 1)
        self.branch7x7_2, self.branch7x7_3 = _seven(c7, c7, 192, True)
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2, self.branch7x7dbl_3 = _seven(c7, c7, c7, False)
        self.branch7x7dbl_4, self.branch7x7dbl_5 = _seven(c7, c7, 192, False)
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))
        d = self.branch7x7dbl_5(self.branch7x7dbl_4(d))
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_pool(x))], 1)


class _D(nn.Module):
    """17 -> 8 reduction: 1x1-3x3 s2 | 1x1-1x7-7x1-3x3 s2 | max pool."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = _Conv(cin, 192, 1), _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2, self.branch7x7x3_3 = _seven(192, 192, 192, True)
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_2(self.branch7x7x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(b7))
        return torch.cat([b3, b7, nn.functional.max_pool2d(x, 3, 2)], 1)


class _E(nn.Module):
    """8x8 block with split 1x3 / 3x1 branches, 2048 channels out."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _Conv(cin, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(_pool(x))], 1)


class InceptionV3(nn.Module):
    """InceptionV3 (Szegedy et al. 2016), torchvision's names, no auxiliary head.

    (B, 3, S, S), S >= 75 -> (B, num_classes). 23,834,568 parameters with 1000 classes
    (torchvision's ``inception_v3`` less its 3,326,696-parameter auxiliary head).
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = _A(192, 32), _A(256, 64), _A(288, 64)
        self.Mixed_6a = _B(288)
        self.Mixed_6b, self.Mixed_6c = _C(768, 128), _C(768, 160)
        self.Mixed_6d, self.Mixed_6e = _C(768, 160), _C(768, 192)
        self.Mixed_7a, self.Mixed_7b, self.Mixed_7c = _D(768), _E(1280), _E(2048)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        """Logits (B, num_classes)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(images)))
        x = nn.functional.max_pool2d(x, 3, 2)
        x = nn.functional.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, 2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        out: Tensor = self.fc(self.dropout(torch.flatten(x.mean(dim=(2, 3)), 1)))
        return out


def load_torchvision_inception(net: InceptionV3, path: Path) -> None:
    """Load a local torchvision ``inception_v3`` state dict (ImageNet), all but the heads.

    ``AuxLogits.*`` is skipped, and so is ``fc.*`` when its class count differs.

    Raises:
        InputError: unreadable file, or keys / shapes that are not torchvision's.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as err:
        raise InputError(f"{path}: cannot read a state dict ({err})") from None
    own = net.state_dict()
    keep = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    if keep.get("fc.weight") is not None and keep["fc.weight"].shape != own["fc.weight"].shape:
        keep = {k: v for k, v in keep.items() if not k.startswith("fc.")}
    missing = [k for k in own if k not in keep and not k.startswith("fc.")]
    wrong = [k for k, v in keep.items() if k not in own or own[k].shape != v.shape]
    if missing or wrong:
        raise InputError(
            f"{path}: not a torchvision inception_v3 state dict ({(missing + wrong)[:3]})"
        )
    net.load_state_dict(keep, strict=False)
