"""Second-order channel attention (SOCA of SAN, Dai et al. 2019), the SO branch of MLRN's AM unit.

Global covariance pooling -> matrix square root by Newton-Schulz -> row mean -> squeeze/excite MLP -> sigmoid
-> channel scaling. All of it runs in float32 with autocast disabled (`common.float32_island`): under bf16
autocast the covariance bmm and the iteration would otherwise run in bf16, whose 8-bit mantissa ruins a
C x C covariance.

The number of iterations is bounded by MAX_ITERATIONS. Feature covariances are often rank-deficient (a map of
M pixels has rank < M, and MLRN's maps are small during training); along a null direction the iteration
multiplies Z by 1.5 per step and amplifies rounding, so in float32 the root degrades from about 20 iterations
and becomes inf/NaN from 24 (measured: rank-1 to 3x3-pixel covariances of 8-64 channels, forward 25,
gradient 24; docs/paper-notes.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srlib.models.common import float32_island

# Newton-Schulz iterations allowed by SecondOrderAttention / MLRN's `so_iterations` (see the module docstring:
# 24 is the first count measured to give inf/NaN on a rank-deficient float32 covariance).
MAX_ITERATIONS = 15

# Added to the trace before normalising: a constant image has a zero covariance (trace 0), and both the
# normalisation A / tr(A) and the compensation sqrt(tr(A)) would give NaN values or gradients.
TRACE_EPS = 1e-5


def covariance_pool(x: torch.Tensor) -> torch.Tensor:
    """Sample covariance of the C x M feature matrix (M = H*W) per image: (X - mean)(X - mean)^T / M.

    Equals SAN's X I_bar X^T with I_bar = (I - 1/M) / M, without building the M x M centering matrix:
    memory is O(C*M) for the centred copy and O(C^2) for the result. Returns float32 B x C x C.
    """
    if x.dim() != 4:
        raise ValueError(f"covariance_pool expects B x C x H x W, got shape {tuple(x.shape)}")
    with float32_island(x) as (x32,):
        feats = x32.flatten(2)
        centred = feats - feats.mean(dim=2, keepdim=True)
        return torch.bmm(centred, centred.transpose(1, 2)) / feats.shape[2]


def sqrtm_newton_schulz(a: torch.Tensor, iterations: int = 5, eps: float = TRACE_EPS) -> torch.Tensor:
    """Square root of symmetric positive semi-definite matrices B x C x C by coupled Newton-Schulz iteration.

    The matrix is divided by its trace (so the iteration's convergence condition holds: eigenvalues in (0, 1])
    and the result multiplied by sqrt(trace) ("trace compensation"). Each iteration is
    T = (3I - Z Y) / 2, Y <- Y T, Z <- T Z, from Y = A / tr(A), Z = I; Y tends to sqrt(A / tr(A)).
    Only matmuls, so it is fast on any device and differentiable by autograd. Few iterations only approximate
    the root when small eigenvalues dominate (see docs/paper-notes.md); that approximation is SAN's method.
    Any count >= 1 is accepted here (float64 tests converge it); the modules stop at MAX_ITERATIONS.
    """
    if a.dim() != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"sqrtm_newton_schulz expects B x C x C matrices, got shape {tuple(a.shape)}")
    if iterations < 1:
        raise ValueError(f"Newton-Schulz needs at least 1 iteration, got {iterations}")
    trace = a.diagonal(dim1=1, dim2=2).sum(dim=1).view(-1, 1, 1) + eps
    eye = torch.eye(a.shape[1], dtype=a.dtype, device=a.device).expand_as(a)
    y = a / trace
    z = eye
    for _ in range(iterations):
        t = 0.5 * (3.0 * eye - z @ y)
        y = y @ t
        z = t @ z
    return y * trace.sqrt()


def check_iterations(iterations: object, name: str = "so_iterations") -> None:
    """ValueError unless 1 <= iterations <= MAX_ITERATIONS (an int)."""
    valid = isinstance(iterations, int) and not isinstance(iterations, bool)
    if not valid or not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(
            f"{name} must be an integer from 1 to {MAX_ITERATIONS}, got {iterations!r}: more Newton-Schulz "
            f"iterations give inf/NaN on the rank-deficient covariances of small feature maps in float32"
        )


class SecondOrderAttention(nn.Module):
    """SOCA: scales each channel by a weight computed from the square-rooted feature covariance.

    Row mean of sqrt(Sigma) gives a C vector; 1x1 conv down by `reduction` -> ReLU -> 1x1 conv up -> sigmoid.
    """

    def __init__(self, channels: int, reduction: int = 16, iterations: int = 5) -> None:
        super().__init__()
        check_iterations(iterations)
        if channels // reduction < 1:
            raise ValueError(f"reduction {reduction} leaves no channels out of {channels}")
        self.iterations = iterations
        self.down = nn.Conv2d(channels, channels // reduction, 1)
        self.up = nn.Conv2d(channels // reduction, channels, 1)

    def channel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel weights B x C x 1 x 1 in (0, 1), computed in float32 whatever the autocast or
        parameter dtype."""
        with float32_island(x) as (x32,):
            root = sqrtm_newton_schulz(covariance_pool(x32), self.iterations)
            pooled = root.mean(dim=2)[:, :, None, None]
            dt = pooled.dtype
            hidden = torch.relu(F.conv2d(pooled, self.down.weight.to(dt), self.down.bias.to(dt)))
            return torch.sigmoid(F.conv2d(hidden, self.up.weight.to(dt), self.up.bias.to(dt)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.channel_weights(x).to(x.dtype)
