import pytest
import torch
import torch.nn.functional as F

from rsdet.models.ops.deform_conv import ModulatedDeformConv2d, deform_conv2d


def _taps(k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    ky, kx = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    return (ky.reshape(-1) - k // 2).double(), (kx.reshape(-1) - k // 2).double()


@pytest.mark.parametrize(("stride", "size"), [(1, (7, 9)), (2, (8, 5)), (1, (1, 1)), (1, (2, 1))])
def test_zero_offsets_unit_mask_is_plain_conv(stride, size):
    torch.manual_seed(0)
    x = torch.randn(2, 4, *size, dtype=torch.float64)
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    b = torch.randn(5, dtype=torch.float64)
    ref = F.conv2d(x, w, b, stride=stride, padding=1)
    ho, wo = ref.shape[-2:]
    off = torch.zeros(2, 18, ho, wo, dtype=torch.float64)
    mask = torch.ones(2, 9, ho, wo, dtype=torch.float64)
    out = deform_conv2d(x, off, w, mask, b, stride=stride, padding=1)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    # DCNv1 (no mask) is the same.
    torch.testing.assert_close(
        deform_conv2d(x, off, w, None, b, stride, 1), ref, rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("d", [2, 3, 4])
def test_constant_offsets_give_the_dilated_conv(d):
    # Offsets (d - 1) * p_k move each tap of a 3x3, pad-1 kernel onto the dilation-d grid;
    # DCFL's first PCB layer is built this way and is therefore exactly a dilated conv.
    torch.manual_seed(1)
    x = torch.randn(1, 3, 11, 6, dtype=torch.float64)
    w = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    ky, kx = _taps()
    off = torch.stack([(d - 1) * ky, (d - 1) * kx], dim=1).reshape(1, 18, 1, 1).expand(1, 18, 11, 6)
    out = deform_conv2d(x, off, w, None, None, padding=1)
    ref = F.conv2d(x, w, padding=d, dilation=d)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


def test_fractional_offset_is_bilinear_and_zero_outside():
    # A 1x1 kernel with offset (0, 0.25) reads 0.75 * x[j] + 0.25 * x[j + 1]; past the last
    # column the missing neighbour reads 0 (mmcv semantics), and far outside everything is 0.
    x = torch.tensor([[[[1.0, 2.0, 4.0]]]], dtype=torch.float64)
    w = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    off = torch.tensor([0.0, 0.25], dtype=torch.float64).reshape(1, 2, 1, 1).expand(1, 2, 1, 3)
    out = deform_conv2d(x, off, w)
    assert out.flatten().tolist() == pytest.approx([1.25, 2.5, 3.0])
    far = torch.tensor([0.0, -5.0], dtype=torch.float64).reshape(1, 2, 1, 1).expand(1, 2, 1, 3)
    assert deform_conv2d(x, far, w).abs().max().item() == 0.0
    # Mask scales each tap.
    mask = torch.full((1, 1, 1, 3), 0.5, dtype=torch.float64)
    assert deform_conv2d(x, off, w, mask).flatten().tolist() == pytest.approx([0.625, 1.25, 1.5])


def test_gradcheck_input_offset_mask_weight():
    torch.manual_seed(2)
    x = torch.randn(1, 2, 4, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    # Fractional parts in (0.1, 0.9): bilinear sampling has kinks at integer positions.
    whole = torch.randint(-2, 3, (1, 18, 4, 3)).double()
    off = (whole + 0.1 + 0.8 * torch.rand(1, 18, 4, 3, dtype=torch.float64)).requires_grad_()
    mask = torch.rand(1, 9, 4, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)

    def fn(x, off, mask, w, b):
        return deform_conv2d(x, off, w, mask, b, padding=1)

    assert torch.autograd.gradcheck(fn, (x, off, mask, w, b), eps=1e-6, atol=1e-6)


def test_layer_on_one_by_one_map_and_shapes():
    layer = ModulatedDeformConv2d(8, 6)
    x = torch.randn(2, 8, 1, 1)
    off = torch.randn(2, 18, 1, 1)
    mask = torch.rand(2, 9, 1, 1)
    out = layer(x, off, mask)
    assert out.shape == (2, 6, 1, 1) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="offset must be"):
        layer(x, torch.zeros(2, 18, 2, 2), mask)


@pytest.mark.parametrize(
    ("size", "stride", "dilation"), [((7, 9), 1, 1), ((8, 5), 2, 1), ((1, 1), 1, 1), ((6, 6), 1, 3)]
)
def test_gather_sampler_reads_what_grid_sample_reads(size, stride, dilation):
    # The export-time form: same bilinear reads, zeros outside, for offsets that reach far
    # outside the map, land on integer positions and stay inside.
    torch.manual_seed(3)
    x = torch.randn(2, 5, *size, dtype=torch.float64)
    w = torch.randn(4, 5, 3, 3, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    pad = dilation
    ho = (size[0] + 2 * pad - 2 * dilation - 1) // stride + 1
    wo = (size[1] + 2 * pad - 2 * dilation - 1) // stride + 1
    off = torch.randn(2, 18, ho, wo, dtype=torch.float64) * 4
    off[:, :6] = off[:, :6].round()  # some integer positions (bilinear kinks)
    mask = torch.rand(2, 9, ho, wo, dtype=torch.float64)
    args = (x, off, w, mask, b, stride, pad, dilation)
    ref = deform_conv2d(*args, sampler="grid_sample")
    out = deform_conv2d(*args, sampler="gather")
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


def test_gather_sampler_fractional_offset_is_bilinear_and_zero_outside():
    x = torch.tensor([[[[1.0, 2.0, 4.0]]]], dtype=torch.float64)
    w = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    off = torch.tensor([0.0, 0.25], dtype=torch.float64).reshape(1, 2, 1, 1).expand(1, 2, 1, 3)
    assert deform_conv2d(x, off, w, sampler="gather").flatten().tolist() == pytest.approx(
        [1.25, 2.5, 3.0]
    )
    far = torch.tensor([7.0, -5.0], dtype=torch.float64).reshape(1, 2, 1, 1).expand(1, 2, 1, 3)
    assert deform_conv2d(x, far, w, sampler="gather").abs().max().item() == 0.0


def test_layer_sampler_switch_keeps_outputs():
    torch.manual_seed(4)
    layer = ModulatedDeformConv2d(6, 3)
    x, off, mask = torch.randn(1, 6, 5, 7), torch.randn(1, 18, 5, 7) * 2, torch.rand(1, 9, 5, 7)
    ref = layer(x, off, mask)
    layer.sampler = "gather"
    torch.testing.assert_close(layer(x, off, mask), ref, rtol=1e-5, atol=1e-5)
