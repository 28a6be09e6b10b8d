"""Training losses by hand: Charbonnier's value, and the targets of the multi-output losses (LapSRN's pyramid
levels against the downscaled HR patch, MemNet's multi-supervision) as the trainer computes them, outside
any training run (srlib/train/losses.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from srlib.core.imresize import imresize
from srlib.models import TrainingTerm, build_model
from srlib.train.losses import TrainingForward, charbonnier, pixel_loss, total_loss


def test_charbonnier_value_by_hand() -> None:
    pred = torch.tensor([0.0, 0.003, 0.5, -0.2])
    target = torch.tensor([0.0, 0.007, 0.5, 0.1])
    eps = 1e-3
    diffs = [0.0, -0.004, 0.0, -0.3]
    expected = sum(math.sqrt(d * d + eps * eps) for d in diffs) / 4
    assert charbonnier(pred, target, eps).item() == pytest.approx(expected, rel=1e-6)
    assert pixel_loss({"name": "charbonnier", "eps": eps})(pred, target).item() == pytest.approx(
        expected, rel=1e-6
    )
    # eps = 0 is L1; large errors approach L1 as well
    assert charbonnier(pred, target, 0.0).item() == pytest.approx(F.l1_loss(pred, target).item(), rel=1e-6)


def test_pixel_loss_names() -> None:
    a, b = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    assert pixel_loss({"name": "l1"})(a, b) == F.l1_loss(a, b)
    assert pixel_loss({"name": "mse"})(a, b) == F.mse_loss(a, b)
    with pytest.raises(ValueError, match="unknown loss"):
        pixel_loss({"name": "huber"})


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lapsrn_pyramid_targets(scale: int) -> None:
    """One Charbonnier term per level: level i (x2^i) against HR resized by 2^i / scale with MATLAB bicubic,
    the top (resized to `scale`) against HR itself."""
    torch.manual_seed(0)
    model = build_model("lapsrn", scale, depth=1, channels=4).eval()
    lr = torch.rand(2, 1, 6, 6)
    hr = torch.rand(2, 1, 6 * scale, 6 * scale)
    loss_fn = pixel_loss({"name": "charbonnier", "eps": 1e-3})
    with torch.no_grad():
        got = total_loss(TrainingForward(model, multi_output=True)(lr), hr, loss_fn, scale)
        pyramid = model.pyramid(lr)
        expected = sum(
            charbonnier(level, imresize(hr, scale=2 ** (i + 1) / scale))
            for i, level in enumerate(pyramid[:-1])
        )
        expected = expected + charbonnier(model(lr), hr)
        single = total_loss(TrainingForward(model, multi_output=False)(lr), hr, loss_fn, scale)
    assert len(pyramid) == (1 if scale == 2 else 2)
    torch.testing.assert_close(got, torch.as_tensor(expected), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(single, charbonnier(model(lr).detach(), hr), rtol=1e-6, atol=1e-7)
    if scale == 4:  # the x2 level's target is the HR patch at half size, 12 x 12
        assert imresize(hr, scale=0.5).shape[-2:] == pyramid[0].shape[-2:] == (12, 12)


def test_memnet_multi_supervision_targets() -> None:
    """MSE on the weighted sum and on every block's prediction y_m, weight 1 each, all against HR."""
    torch.manual_seed(0)
    model = build_model("memnet", 2, n_memory=3, n_recursions=1, channels=4).eval()
    lr, hr = torch.rand(1, 1, 5, 5), torch.rand(1, 1, 10, 10)
    with torch.no_grad():
        terms = TrainingForward(model, multi_output=True)(lr)
        got = total_loss(terms, hr, F.mse_loss, 2)
        outputs = model.block_outputs(lr)
        expected = F.mse_loss(model(lr), hr) + sum(F.mse_loss(y, hr) for y in outputs)
    assert len(terms) == 4
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)


def test_term_weights_and_float32() -> None:
    """loss = sum(weight * loss(output, target)), computed in float32 even for bf16 outputs."""
    hr = torch.rand(1, 1, 8, 8)
    out = torch.rand(1, 1, 8, 8)
    half = imresize(hr, scale=0.5)
    terms = [TrainingTerm(out.bfloat16(), 2.0, 0.5), TrainingTerm(half + 0.1, 1.0, 2.0)]
    got = total_loss(terms, hr, F.l1_loss, 2)
    assert got.dtype == torch.float32
    expected = 0.5 * F.l1_loss(out.bfloat16().float(), hr) + 2.0 * 0.1
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_bad_terms_raise() -> None:
    hr = torch.rand(1, 1, 8, 8)
    with pytest.raises(ValueError, match="divisible"):
        total_loss([TrainingTerm(torch.rand(1, 1, 7, 7), 2.0, 1.0)], hr, F.l1_loss, 2)
    with pytest.raises(ValueError, match="no training outputs"):
        total_loss([], hr, F.l1_loss, 2)
