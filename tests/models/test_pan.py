import torch

from rsdet.models.pan import PAN


def test_pan_keeps_shapes_and_mixes_every_level():
    channels = [8, 16, 24, 32]
    neck = PAN(channels, depth=1)
    feats = [
        torch.randn(1, c, 16 // 2**i, 16 // 2**i, requires_grad=True)
        for i, c in enumerate(channels)
    ]
    outs = neck(feats)
    assert [o.shape for o in outs] == [f.shape for f in feats]
    # The finest output sees the coarsest (1x1... here 2x2) input and vice versa.
    outs[0].sum().backward(retain_graph=True)
    assert feats[-1].grad.abs().sum() > 0
    feats[0].grad = None
    outs[-1].sum().backward()
    assert feats[0].grad.abs().sum() > 0
