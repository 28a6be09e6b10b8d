"""MATLAB imresize: closed-form cases, MATLAB's own weights, PIL as independent reference, numpy == torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from srlib.core.imresize import _taps, degrade, imresize, imresize_uint8, modcrop


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _reach(scale: float) -> int:
    """Output pixels within which the border (mirroring) can matter: the kernel spans 2 input pixels each
    way when upscaling (2 * scale output pixels) and 2 output pixels when downscaling; plus one."""
    return math.ceil(2 * max(1.0, scale)) + 1


@pytest.mark.parametrize(
    ("shape", "scale", "expected"),
    [
        ((10, 13), 2, (20, 26)),
        ((10, 13), 0.5, (5, 7)),
        ((11, 7), 1 / 3, (4, 3)),
        ((255, 129), 1 / 3, (85, 43)),
        ((9, 9), 1.5, (14, 14)),
        ((7, 5), 2.7, (19, 14)),
        ((1, 1), 4, (4, 4)),
        ((5, 8), (2, 0.5), (10, 4)),
    ],
)
def test_output_size_is_ceil_of_in_times_scale(shape, scale, expected):
    assert imresize(np.zeros(shape), scale=scale).shape == expected
    assert imresize(torch.zeros(2, *shape), scale=scale).shape == (2, *expected)


def test_output_shape_argument_and_channels_kept():
    out = imresize(_rng().random((12, 9, 3)), output_shape=(5, 20))
    assert out.shape == (5, 20, 3)
    assert out.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_])
def test_any_real_dtype_gives_float64(dtype):
    img = (_rng().random((8, 6, 3)) * 200).astype(dtype)
    out = imresize(img, scale=2)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, imresize(img.astype(np.float64), scale=2), atol=1e-12)


def test_scale_one_is_identity():
    img = _rng().random((9, 14, 3))
    np.testing.assert_array_equal(imresize(img, scale=1), img)
    t = torch.from_numpy(img).permute(2, 0, 1)
    torch.testing.assert_close(imresize(t, scale=1), t, rtol=0, atol=0)


@pytest.mark.parametrize("scale", [2, 3, 4, 0.5, 1 / 3, 0.25, 1.7, 0.61])
def test_constant_image_stays_constant(scale):
    img = np.full((13, 11, 3), 0.37)
    np.testing.assert_allclose(imresize(img, scale=scale), 0.37, atol=1e-14)
    out = imresize(torch.full((1, 3, 13, 11), 0.37, dtype=torch.float64), scale=scale)
    torch.testing.assert_close(out, torch.full_like(out, 0.37), rtol=0, atol=1e-14)


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4])
def test_linear_ramp_is_reproduced_away_from_borders(scale):
    """Keys' cubic reproduces linear functions; output pixel x (1-based) samples u = x/s + (1 - 1/s)/2."""
    n = 96
    ramp = np.tile(np.arange(1, n + 1, dtype=np.float64)[:, None], (1, 3))  # value = 1-based row index
    out = imresize(ramp, scale=(scale, 1))
    x = np.arange(1, out.shape[0] + 1)
    u = x / scale + 0.5 * (1 - 1 / scale)
    margin = _reach(scale)
    inner = slice(margin, out.shape[0] - margin)
    assert out[inner].shape[0] >= 8
    np.testing.assert_allclose(out[inner, 0], u[inner], atol=1e-12)


def test_matlab_weights_at_scale_two_and_half():
    """The tap weights MATLAB's `contributions` gives for x2 and x1/2 (exact binary fractions)."""
    _, up = _taps(16, 32, 2.0)
    np.testing.assert_allclose(
        np.sort(up[10][up[10] != 0]), np.sort([-0.0234375, 0.2265625, 0.8671875, -0.0703125]), atol=1e-15
    )
    _, down = _taps(16, 8, 0.5)
    np.testing.assert_allclose(down[4], np.array([-3, -9, 29, 111, 111, 29, -9, -3]) / 256, atol=1e-15)


def test_borders_are_mirrored_symmetrically():
    """x2 upsampling of [v1, v2, ...]: the first output reads v1 for index 0 and v2 for index -1 (MATLAB's
    symmetric padding, not replication): out1 = 1.09375 v1 - 0.09375 v2."""
    v = np.array([[3.0], [10.0], [-4.0], [7.0], [1.0]])
    out = imresize(v, scale=(2, 1))
    assert out[0, 0] == pytest.approx(1.09375 * 3.0 - 0.09375 * 10.0, abs=1e-12)
    assert out[-1, 0] == pytest.approx(1.09375 * 1.0 - 0.09375 * 7.0, abs=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4])
def test_agrees_with_pil_bicubic_in_the_interior(scale):
    """PIL's BICUBIC (a = -0.5, kernel widened when downscaling) is an independent implementation; it
    differs from MATLAB only at the borders (no mirroring), so compare away from them."""
    img = _rng(1).random((96, 72)).astype(np.float32)
    ours = imresize(img.astype(np.float64), scale=scale)
    pil = np.asarray(
        Image.fromarray(img, mode="F").resize((ours.shape[1], ours.shape[0]), Image.Resampling.BICUBIC)
    )
    margin = _reach(scale)
    inner = (slice(margin, -margin), slice(margin, -margin))
    assert ours[inner].size > 100
    np.testing.assert_allclose(ours[inner], pil[inner], atol=2e-5)
    assert np.abs(ours - pil).max() > 1e-3  # the borders do differ: the comparison is not vacuous


@pytest.mark.parametrize("scale", [2, 3, 0.5, 1 / 3, 0.7, (1.5, 0.5)])
def test_numpy_and_torch_paths_agree(scale):
    img = _rng(2).random((17, 23, 3))
    ref = imresize(img, scale=scale)
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    out64 = imresize(t, scale=scale)
    assert out64.dtype == torch.float64
    np.testing.assert_allclose(out64[0].permute(1, 2, 0).numpy(), ref, atol=1e-12)
    out32 = imresize(t.float(), scale=scale)
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out32[0].permute(1, 2, 0).numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("scale", [2, 0.5])
def test_torch_gather_and_matrix_strategies_agree(scale, monkeypatch):
    """On the CPU a long axis is resized by gathers, a short one by a dense matrix: same values and grads."""
    x = torch.rand(2, 700, 9, dtype=torch.float64, requires_grad=True)
    ref = imresize(x.detach()[0].numpy(), scale=scale)
    out = imresize(x, scale=scale)
    np.testing.assert_allclose(out[0].detach().numpy(), ref, atol=1e-12)
    (grad,) = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(), x)
    monkeypatch.setattr("srlib.core.imresize._DENSE_MAX_RATIO", 10**9)
    dense = imresize(x, scale=scale)
    torch.testing.assert_close(dense, out, rtol=0, atol=1e-12)
    (grad_dense,) = torch.autograd.grad((dense * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(), x)
    torch.testing.assert_close(grad_dense, grad, rtol=0, atol=1e-12)


def test_torch_resizes_last_two_dims_of_any_rank():
    x = torch.rand(2, 3, 4, 6, 5)
    out = imresize(x, scale=2)
    assert out.shape == (2, 3, 4, 12, 10)
    torch.testing.assert_close(out[1, 2], imresize(x[1, 2], scale=2))


@pytest.mark.slow
def test_torch_gradient():
    x = torch.rand(1, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, scale=2), (x,))
    assert torch.autograd.gradcheck(lambda t: imresize(t, scale=0.5), (x,))
    y = torch.rand(1, 3, 8, 8, requires_grad=True)
    imresize(y, scale=3).sum().backward()
    assert y.grad is not None and y.grad.shape == y.shape and torch.isfinite(y.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_torch_cuda_matches_cpu():
    x = torch.rand(2, 3, 15, 11, dtype=torch.float64)
    torch.testing.assert_close(imresize(x.cuda(), scale=3).cpu(), imresize(x, scale=3))


def test_uint8_path_rounds_each_pass_like_matlab():
    """MATLAB's typed imresizemex returns uint8 after each axis pass: equal to two one-axis resizes, each
    rounded half away from zero and saturated."""
    img = _rng(3).integers(0, 256, size=(24, 18, 3), dtype=np.uint8)
    out = imresize_uint8(img, scale=1 / 3)
    assert out.dtype == np.uint8 and out.shape == (8, 6, 3)
    rows = np.clip(np.floor(imresize(img, output_shape=(8, 18)) + 0.5), 0, 255).astype(np.uint8)
    both = np.clip(np.floor(imresize(rows, output_shape=(8, 6)) + 0.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out, both)
    once = np.clip(np.floor(imresize(img, scale=1 / 3) + 0.5), 0, 255).astype(np.uint8)
    assert np.abs(out.astype(int) - once.astype(int)).max() <= 1


def test_uint8_path_saturates_overshoot():
    img = np.zeros((8, 8), dtype=np.uint8)
    img[:, 4:] = 255  # a step: bicubic over/undershoots next to it
    assert imresize(img, scale=2).max() > 255 and imresize(img, scale=2).min() < 0
    out = imresize_uint8(img, scale=2)
    assert out.min() == 0 and out.max() == 255


def test_degrade_is_matlab_uint8_imresize_by_inverse_scale():
    hr = _rng(4).integers(0, 256, size=(24, 36, 3), dtype=np.uint8)
    for scale in (2, 3, 4):
        lr = degrade(hr, scale)
        assert lr.dtype == np.uint8 and lr.shape == (24 // scale, 36 // scale, 3)
        np.testing.assert_array_equal(lr, imresize_uint8(hr, scale=1 / scale))
    np.testing.assert_array_equal(degrade(hr, 1), hr)
    flat = np.full((12, 12, 3), 77, dtype=np.uint8)
    np.testing.assert_array_equal(degrade(flat, 3), 77)


def test_modcrop():
    img = np.arange(11 * 7 * 3).reshape(11, 7, 3)
    assert modcrop(img, 3).shape == (9, 6, 3)
    np.testing.assert_array_equal(modcrop(img, 3), img[:9, :6])
    assert modcrop(img[..., 0], 2).shape == (10, 6)
    assert modcrop(img, 1).shape == img.shape


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: imresize(np.zeros((0, 5)), scale=2), "empty"),
        (lambda: imresize(np.zeros((4, 0, 3)), scale=2), "empty"),
        (lambda: imresize(torch.zeros(1, 0, 4), scale=2), "empty"),
        (lambda: imresize(np.zeros((4, 4)), scale=0), "positive"),
        (lambda: imresize(np.zeros((4, 4)), scale=-2), "positive"),
        (lambda: imresize(np.zeros((4, 4)), scale=float("nan")), "positive"),
        (lambda: imresize(np.zeros((4, 4)), scale=(2, 0)), "positive"),
        (lambda: imresize(np.zeros((4, 4)), scale=(2, 2, 2)), "pair"),
        (lambda: imresize(np.zeros((4, 4))), "exactly one"),
        (lambda: imresize(np.zeros((4, 4)), scale=2, output_shape=(8, 8)), "exactly one"),
        (lambda: imresize(np.zeros((4, 4)), output_shape=(0, 8)), "output_shape"),
        (lambda: imresize(np.zeros((4, 4)), output_shape=(2.5, 8)), "output_shape"),
        (lambda: imresize(np.zeros(4), scale=2), "HxW"),
        (lambda: imresize(np.zeros((4, 4), dtype=complex), scale=2), "dtype"),
        (lambda: imresize(torch.zeros(4, 4, dtype=torch.int64), scale=2), "floating"),
        (lambda: imresize([[1.0, 2.0]], scale=2), "numpy array"),
        (lambda: imresize_uint8(np.zeros((4, 4)), scale=2), "uint8"),
        (lambda: degrade(np.zeros((6, 6, 3)), 2), "uint8"),
        (lambda: degrade(np.zeros((7, 6, 3), dtype=np.uint8), 2), "modcrop"),
        (lambda: degrade(np.zeros((0, 6, 3), dtype=np.uint8), 2), "empty"),
        (lambda: degrade(np.zeros((6, 6, 3), dtype=np.uint8), 0), "positive integer"),
        (lambda: degrade(np.zeros((6, 6, 3), dtype=np.uint8), 1.5), "positive integer"),
        (lambda: modcrop(np.zeros((2, 6, 3)), 3), "smaller than scale"),
        (lambda: modcrop(np.zeros((6, 6, 3)), 0), "positive integer"),
    ],
)
def test_bad_input_raises_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
