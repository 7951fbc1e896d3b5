import pytest
import torch

from rsdet.models.fpn import FPN


@pytest.mark.parametrize(
    ("hw", "sizes"),
    [
        ((1024, 1024), [(128, 128), (64, 64), (32, 32), (16, 16), (8, 8)]),
        # 800 px (DIOR-R, AI-TOD): C5 is 25x25, so P6 and P7 round up.
        ((800, 800), [(100, 100), (50, 50), (25, 25), (13, 13), (7, 7)]),
        # A 64-px input: P6 and P7 are both 1x1.
        ((64, 96), [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]),
    ],
)
def test_levels_sizes_and_channels(hw, sizes):
    h, w = hw
    fpn = FPN((8, 16, 32), out_channels=4)
    feats = [torch.randn(1, c, h // s, w // s) for c, s in ((8, 8), (16, 16), (32, 32))]
    outs = fpn(feats)
    assert [tuple(o.shape[-2:]) for o in outs] == sizes
    assert all(o.shape[1] == 4 for o in outs)


def test_p6_reads_c5_not_p5_and_top_down_adds_coarser_levels():
    fpn = FPN((2, 2, 2), out_channels=2)
    c3, c4, c5 = torch.randn(1, 2, 8, 8), torch.randn(1, 2, 4, 4), torch.randn(1, 2, 2, 2)
    p3, p4, p5, p6, p7 = fpn([c3, c4, c5])
    torch.testing.assert_close(p6, fpn.p6(c5))
    # Changing C5 changes every level (top-down path); changing C3 leaves P4-P7 alone.
    q3, q4, *_ = fpn([c3, c4, c5 + 1])
    assert not torch.allclose(q3, p3) and not torch.allclose(q4, p4)
    r = fpn([c3 + 1, c4, c5])
    for a, b in zip(r[1:], [p4, p5, p6, p7], strict=True):
        torch.testing.assert_close(a, b)
