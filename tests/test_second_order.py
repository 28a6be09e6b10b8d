"""Second-order channel attention: covariance pooling, Newton-Schulz square root, float32 under autocast."""

from __future__ import annotations

import itertools

import pytest
import torch

from srlib.models.second_order import (
    MAX_ITERATIONS,
    SecondOrderAttention,
    covariance_pool,
    sqrtm_newton_schulz,
)


def _random_spd(batch: int, n: int, low: float, high: float, seed: int) -> torch.Tensor:
    """SPD matrices with eigenvalues uniform in [low, high] and random eigenvectors, float64."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(batch, n, n, generator=gen, dtype=torch.float64))
    eig = low + (high - low) * torch.rand(batch, n, generator=gen, dtype=torch.float64)
    return q @ torch.diag_embed(eig) @ q.mT


def _sqrtm_eigh(a: torch.Tensor) -> torch.Tensor:
    eig, vec = torch.linalg.eigh(a)
    return vec @ torch.diag_embed(eig.clamp_min(0).sqrt()) @ vec.mT


def test_covariance_matches_explicit_centering_matrix() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    feats = x.flatten(2)
    m = feats.shape[2]
    i_bar = (torch.eye(m, dtype=torch.float64) - torch.full((m, m), 1.0 / m, dtype=torch.float64)) / m
    expected = feats @ i_bar @ feats.mT
    got = covariance_pool(x.float())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("n", "low", "high"), [(4, 0.5, 1.0), (8, 1.0, 2.0), (16, 2.0, 3.0)])
def test_newton_schulz_matches_eigendecomposition_where_it_converges(n: int, low: float, high: float) -> None:
    a = _random_spd(3, n, low, high, seed=n)
    reference = _sqrtm_eigh(a)
    got = sqrtm_newton_schulz(a, iterations=30)
    torch.testing.assert_close(got, reference, rtol=1e-9, atol=1e-9)
    assert torch.allclose(got @ got, a, rtol=1e-9, atol=1e-9)


def test_newton_schulz_error_shrinks_with_iterations() -> None:
    """Five iterations are an approximation (SAN's choice); more iterations move towards the exact root."""
    a = _random_spd(2, 16, 0.1, 2.0, seed=3)
    reference = _sqrtm_eigh(a)
    norm = torch.linalg.matrix_norm
    errors = [
        (norm(sqrtm_newton_schulz(a, k) - reference) / norm(reference)).max().item()
        for k in (1, 3, 5, 10, 40)
    ]
    assert all(e1 > e2 for e1, e2 in itertools.pairwise(errors))
    assert errors[2] > 1e-3
    assert errors[-1] < 1e-8


@pytest.mark.parametrize("iterations", [1, 5])
def test_newton_schulz_gradcheck(iterations: int) -> None:
    a = _random_spd(2, 4, 0.5, 1.5, seed=iterations).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda m: sqrtm_newton_schulz(m, iterations), (a,))


def test_newton_schulz_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="B x C x C"):
        sqrtm_newton_schulz(torch.eye(3))
    with pytest.raises(ValueError, match="at least 1 iteration"):
        sqrtm_newton_schulz(torch.eye(3)[None], iterations=0)


def test_constant_image_gives_finite_weights_and_gradients() -> None:
    torch.manual_seed(0)
    so = SecondOrderAttention(8, reduction=2)
    x = torch.full((2, 8, 5, 6), 0.3, requires_grad=True)
    out = so(x)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in so.parameters())


def test_bf16_autocast_keeps_second_order_in_float32() -> None:
    torch.manual_seed(0)
    so = SecondOrderAttention(16, reduction=4)
    x = torch.randn(2, 16, 9, 7)
    reference = so.channel_weights(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cov = covariance_pool(x)
        weights = so.channel_weights(x)
        out = so(x.bfloat16())
    assert cov.dtype == torch.float32
    torch.testing.assert_close(cov, covariance_pool(x), rtol=1e-6, atol=1e-7)
    assert weights.dtype == torch.float32
    torch.testing.assert_close(weights, reference, rtol=1e-6, atol=1e-7)
    assert out.dtype == torch.bfloat16


def test_attention_scales_channels_only() -> None:
    torch.manual_seed(0)
    so = SecondOrderAttention(8, reduction=2)
    x = torch.randn(1, 8, 6, 6)
    weights = so.channel_weights(x)
    assert weights.shape == (1, 8, 1, 1)
    assert ((weights > 0) & (weights < 1)).all()
    torch.testing.assert_close(so(x), x * weights)


def _rank_one_covariance(channels: int = 64) -> torch.Tensor:
    """The covariance of a 4 x 4 map with one non-zero pixel: rank 1 (float32), as small maps give."""
    x = torch.zeros(1, channels, 4, 4)
    x[:, :, 0, 0] = torch.randn(channels, generator=torch.Generator().manual_seed(1))
    return covariance_pool(x)


def test_iteration_bound_is_safe_on_a_rank_deficient_covariance() -> None:
    """Within MAX_ITERATIONS the float32 root of a rank-1 covariance is finite and accurate; far beyond it the
    same iteration overflows, which is why `so_iterations` is bounded."""
    a = _rank_one_covariance()
    reference = _sqrtm_eigh(a.double())
    for k in range(1, MAX_ITERATIONS + 1):
        root = sqrtm_newton_schulz(a, k)
        assert torch.isfinite(root).all(), k
        error = torch.linalg.matrix_norm(root.double() - reference) / torch.linalg.matrix_norm(reference)
        assert error < 1e-2, (k, error)
    x = torch.zeros(1, 64, 4, 4)
    x[:, :, 0, 0] = torch.randn(64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    sqrtm_newton_schulz(covariance_pool(x), MAX_ITERATIONS).mean(dim=2).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert not torch.isfinite(sqrtm_newton_schulz(a, 30)).all()


@pytest.mark.parametrize("iterations", [0, MAX_ITERATIONS + 1, 30, 2.0, True])
def test_so_iterations_out_of_bounds_raise(iterations: object) -> None:
    from srlib.models.mlrn import MLRN

    with pytest.raises(ValueError, match=f"from 1 to {MAX_ITERATIONS}"):
        SecondOrderAttention(8, reduction=2, iterations=iterations)
    with pytest.raises(ValueError, match="so_iterations"):
        MLRN(2, channels=8, reduction=4, so_iterations=iterations)
