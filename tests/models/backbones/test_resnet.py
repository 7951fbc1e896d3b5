import pytest
import torch
from torch import nn

from rsdet.errors import InputError
from rsdet.models.backbones import ResNet


@pytest.mark.parametrize(
    ("depth", "channels", "params"),
    [
        # torchvision totals minus the classifier (fc: 512 or 2048 inputs x 1000 + 1000).
        (18, (64, 128, 256, 512), 11_689_512 - 513_000),
        (50, (256, 512, 1024, 2048), 25_557_032 - 2_049_000),
    ],
)
def test_shapes_strides_and_parameter_count(depth, channels, params):
    net = ResNet(depth, frozen_stages=0, norm_eval=False).eval()
    feats = net(torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (c, 64 // s, 96 // s) for c, s in zip(channels, (4, 8, 16, 32), strict=True)
    ]
    assert net.out_channels == channels
    assert sum(p.numel() for p in net.parameters()) == params


def test_torchvision_key_names():
    keys = set(ResNet(50).state_dict())
    for k in [
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.weight",
        "layer4.2.conv3.weight",
        "layer3.5.bn2.bias",
    ]:
        assert k in keys
    assert not any(k.startswith("fc.") for k in keys)


def test_frozen_stages_and_norm_eval():
    net = ResNet(18, frozen_stages=1, norm_eval=True).train()
    assert not net.conv1.weight.requires_grad and not net.layer1[0].conv1.weight.requires_grad
    assert net.layer2[0].conv1.weight.requires_grad
    assert all(not m.training for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    scratch = ResNet(18, frozen_stages=0, norm_eval=False).train()
    assert all(p.requires_grad for p in scratch.parameters())
    assert all(m.training for m in scratch.modules() if isinstance(m, nn.BatchNorm2d))


def test_load_torchvision_style_file(tmp_path):
    src = ResNet(18)
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
    state = {f"module.{k}": v for k, v in src.state_dict().items()}
    state["module.fc.weight"] = torch.zeros(1000, 512)  # the classifier is skipped
    torch.save({"state_dict": state}, tmp_path / "r18.pth")
    dst = ResNet(18)
    dst.load_weights(tmp_path / "r18.pth")
    torch.testing.assert_close(dst.layer3[1].conv2.weight, src.layer3[1].conv2.weight)
    with pytest.raises(InputError, match="do not fit"):
        ResNet(50).load_weights(tmp_path / "r18.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(InputError, match=r"junk\.pth"):
        ResNet(18).load_weights(tmp_path / "junk.pth")
