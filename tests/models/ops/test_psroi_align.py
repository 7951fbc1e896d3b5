import math

import pytest
import torch

from rsdet.models.ops.psroi_align import psroi_align


def _bilinear(plane, height, width, y, x):
    """bilinear_interpolate of PSROIAlign_cuda.cu, line by line (Python floats)."""
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return plane.new_zeros(())
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (
        hy * hx * plane[y_low, x_low]
        + hy * lx * plane[y_low, x_high]
        + ly * hx * plane[y_high, x_low]
        + ly * lx * plane[y_high, x_high]
    )


def _loop_psroi_align(features, rois, spatial_scale, k, s):
    """PSROIAlignForward of the CUDA kernel as a direct loop over output elements."""
    _, c, h, w = features.shape
    d = c // (k * k)
    out = features.new_zeros(rois.shape[0], d, k, k)
    for n, roi in enumerate(rois.tolist()):
        b = int(roi[0])
        x1, y1, x2, y2 = (v * spatial_scale for v in roi[1:])
        rh, rw = max(y2 - y1, 0.1), max(x2 - x1, 0.1)
        bh, bw = rh / k, rw / k
        for ctop in range(d):
            for ph in range(k):
                for pw in range(k):
                    plane = features[b, (ctop * k + ph) * k + pw]
                    best = None
                    for iy in range(s):
                        y = y1 + ph * bh + (iy + 0.5) * bh / s
                        for ix in range(s):
                            x = x1 + pw * bw + (ix + 0.5) * bw / s
                            v = _bilinear(plane, h, w, y, x)
                            if best is None or v > best:  # strict: the first max wins
                                best = v
                    out[n, ctop, ph, pw] = best
    return out


def _rois(num, height, width, stride, batch, seed):
    # Boxes in input pixels, some reaching past every border and some degenerate.
    g = torch.Generator().manual_seed(seed)
    span_y, span_x = height * stride, width * stride
    x1 = torch.rand(num, generator=g) * (span_x + 16) - 8
    y1 = torch.rand(num, generator=g) * (span_y + 16) - 8
    bw = torch.rand(num, generator=g) * span_x * 0.6
    bh = torch.rand(num, generator=g) * span_y * 0.6
    bw[::5] = 0.0  # zero-width RoIs: the 0.1 minimum
    b = torch.randint(0, batch, (num,), generator=g).double()
    return torch.stack([b, x1, y1, x1 + bw, y1 + bh], dim=1).double()


@pytest.mark.parametrize(
    ("k", "s", "d", "size"), [(7, 2, 2, (9, 11)), (3, 2, 3, (5, 4)), (2, 3, 1, (1, 1))]
)
def test_matches_the_cuda_kernel_loop(k, s, d, size):
    torch.manual_seed(0)
    stride = 4
    feats = torch.randn(2, d * k * k, *size, dtype=torch.float64)
    rois = _rois(12, *size, stride, 2, seed=k)
    out = psroi_align(feats, rois, 1 / stride, k, s)
    ref = _loop_psroi_align(feats, rois, 1 / stride, k, s)
    assert out.shape == (12, d, k, k)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


def test_gradient_goes_to_the_argmax_sample_like_the_cuda_backward():
    torch.manual_seed(1)
    feats = torch.randn(1, 2 * 49, 6, 7, dtype=torch.float64, requires_grad=True)
    rois = _rois(5, 6, 7, 8, 1, seed=3)
    psroi_align(feats, rois, 1 / 8).sum().backward()
    grad = feats.grad.clone()
    feats.grad = None
    _loop_psroi_align(feats, rois, 1 / 8, 7, 2).sum().backward()  # autograd of the loop
    torch.testing.assert_close(grad, feats.grad, rtol=0, atol=1e-12)


def test_bin_reads_only_its_own_channel_and_takes_the_max():
    # One RoI covering a 14x14 map exactly at scale 1: bin (ph, pw) spans pixels [2ph, 2ph+2),
    # its 2x2 samples sit at 2ph + 0.5 and 2ph + 1.5; on a ramp along x the max is the
    # right-hand pair, x = 2pw + 1.5, except in the last column, where x = 13.5 lies past the
    # last pixel centre and is clamped onto it (x = 13).
    k = 7
    ramp = torch.arange(14.0).expand(14, 14)
    feats = torch.zeros(1, k * k, 14, 14)
    for ph in range(k):
        for pw in range(k):
            feats[0, ph * k + pw] = ramp * (1 + ph * k + pw)  # channel-specific slope
    out = psroi_align(feats, torch.tensor([[0.0, 0.0, 0.0, 14.0, 14.0]]), 1.0, k, 2)
    expect = torch.tensor(
        [[min(2 * pw + 1.5, 13) * (1 + ph * k + pw) for pw in range(k)] for ph in range(k)]
    )
    torch.testing.assert_close(out[0, 0], expect)


def test_samples_past_the_border_read_zero_and_no_rois_give_no_rows():
    feats = torch.ones(1, 4, 3, 3)
    # A RoI far to the right of the map: every sample has x > W, so it reads 0.
    far = psroi_align(feats, torch.tensor([[0.0, 10.0, 0.0, 14.0, 2.0]]), 1.0, 2, 2)
    assert far.abs().max() == 0
    # Just inside [-1, W]: clamped onto the last column, reads 1.
    edge = psroi_align(feats, torch.tensor([[0.0, 2.0, 0.0, 3.0, 2.0]]), 1.0, 2, 2)
    assert edge.min() == 1
    assert psroi_align(feats, torch.zeros(0, 5), 1.0, 2, 2).shape == (0, 1, 2, 2)
    with pytest.raises(ValueError, match="multiple of out_size"):
        psroi_align(torch.ones(1, 5, 3, 3), torch.zeros(1, 5), 1.0, 2, 2)


def test_tinydet_shape_245_channels_to_5x7x7():
    feats = torch.randn(2, 245, 80, 80)
    rois = torch.tensor([[0, 10.0, 10.0, 40.0, 30.0], [1, 0.0, 0.0, 320.0, 320.0]])
    out = psroi_align(feats, rois, 1 / 4)
    assert out.shape == (2, 5, 7, 7) and not math.isnan(out.sum().item())
