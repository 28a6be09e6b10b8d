"""Region-level embedded-Gaussian non-local attention (NLNN, Wang et al. 2018; region-level as in SAN).

z = x + W_z softmax(theta(x)^T phi(x)) g(x), where theta, phi, g and W_z are 1x1 convolutions. A 1x1
convolution is a linear map of each pixel's channel vector, so they are `nn.Linear` layers applied to the
pixel tokens of each region. W_z starts at zero, as in NLNN and SAN, so an untrained block is the identity.

Regions are defined in pixels, so that a training patch and a test image are cut into regions of the same
size: each axis of length L is split into max(1, L // region) runs of near-equal length (the
`torch.tensor_split` convention: the first L mod parts runs are one pixel longer). Every run is at least
`region` pixels long (or the whole axis, when it is shorter), and below 2 x region: no ragged one- or
two-pixel regions, no padding, no mask. The number of regions grows with the image and their size does not,
so the cost is linear in the image size. `grid` (legacy) fixes the number of regions per side instead, the
rule of checkpoints made before `region` existed (regions then grow with the input).

The attention is computed with `scaled_dot_product_attention`, which on CPU never materialises the L x L
weights -- *provided* q, k, v are contiguous 4-d tensors. Non-contiguous views (e.g.
`x.flatten(2).transpose(1, 2)`) or 3-d inputs silently take a fallback that builds the full L x L matrix
(measured with torch 2.13 on CPU, one 96 x 96 region of 16 channels: peak RSS +733 MiB and 3.3 s instead of
+3 MiB and 0.7 s), so every tensor handed to it here is contiguous and 4-d (tests/test_attention.py checks
both). Uneven splits cut the map into at most 2 x 2 blocks in each of which all regions share one shape, so
each block is one batched attention call.

Precision: the whole block (embeddings, logits, softmax, W_z, residual) runs in float32 under any autocast.
The logits are unscaled dot products (the embedded-Gaussian definition); with bf16 embeddings and attention
the residual W_z softmax(...) g was off by 0.3-1.9 % (relative) on the measured features, in float32 only the
bf16 rounding of the block's input remains (docs/paper-notes.md, "Mixed precision").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srlib.models.common import float32_island


def _cat(parts: list[torch.Tensor], dim: int) -> torch.Tensor:
    """torch.cat that skips the copy for a single part (the usual, evenly divisible case)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def _bands(length: int, parts: int) -> list[tuple[int, int, int]]:
    """(start, count, size) runs of a tensor_split of `length` into `parts`: `count` regions of `size`."""
    size, rem = divmod(length, parts)
    runs = [(0, rem, size + 1), (rem * (size + 1), parts - rem, size)]
    return [run for run in runs if run[1] > 0 and run[2] > 0]


def _linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`layer(x)` with the weights in x's dtype (float32 inside the island, whatever the parameters')."""
    bias = layer.bias.to(x.dtype) if layer.bias is not None else None
    return F.linear(x, layer.weight.to(x.dtype), bias)


def region_parts(length: int, region: int | None = None, grid: int | None = None) -> int:
    """How many regions an axis of `length` pixels is split into: max(1, length // region), or (legacy)
    min(grid, length)."""
    if grid is not None:
        return max(1, min(grid, length))
    if region is None:
        raise ValueError("region_parts needs a region size or a grid")
    return max(1, length // region)


def region_sizes(length: int, region: int | None = None, grid: int | None = None) -> list[int]:
    """The lengths of the regions along one axis (for docs and tests), e.g. (24, 8) -> [8, 8, 8]."""
    runs = _bands(length, region_parts(length, region, grid))
    return [size for _, count, size in runs for _ in range(count)]


class RegionNonLocal(nn.Module):
    """Embedded-Gaussian non-local block with attention inside regions of about `region` x `region` pixels.

    `reduction` sets the embedding width C // reduction (NLNN uses C / 2). The softmax is over raw dot
    products (scale 1), which is the embedded-Gaussian definition f = exp(theta^T phi). `grid` (legacy,
    overrides `region`): a fixed `grid x grid` split whatever the input size.
    """

    def __init__(self, channels: int, region: int = 16, reduction: int = 2, grid: int | None = None) -> None:
        super().__init__()
        if region < 1:
            raise ValueError(f"non-local region must be >= 1 pixel per side, got {region}")
        if grid is not None and grid < 1:
            raise ValueError(f"non-local grid must be >= 1 region per side, got {grid}")
        inner = channels // reduction
        if inner < 1:
            raise ValueError(f"non-local reduction {reduction} leaves no channels out of {channels}")
        self.region = region
        self.grid = grid
        self.theta = nn.Linear(channels, inner)
        self.phi = nn.Linear(channels, inner)
        self.g = nn.Linear(channels, inner)
        self.out = nn.Linear(inner, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _attend(self, tokens: torch.Tensor) -> torch.Tensor:
        """Attention within each of R regions: tokens R x L x C (contiguous, float32) -> R x L x C."""
        q = _linear(self.theta, tokens).unsqueeze(1).contiguous()
        k = _linear(self.phi, tokens).unsqueeze(1).contiguous()
        v = _linear(self.g, tokens).unsqueeze(1).contiguous()
        y = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return _linear(self.out, y.squeeze(1))

    def _block(self, x: torch.Tensor, rows: tuple[int, int, int], cols: tuple[int, int, int]) -> torch.Tensor:
        """Attention over the regions of one block whose regions share a shape."""
        (r0, nr, hr), (c0, nc, wc) = rows, cols
        b, c = x.shape[:2]
        block = x[:, :, r0 : r0 + nr * hr, c0 : c0 + nc * wc]
        tokens = (
            block.reshape(b, c, nr, hr, nc, wc).permute(0, 2, 4, 3, 5, 1).reshape(b * nr * nc, hr * wc, c)
        )
        y = self._attend(tokens.contiguous())
        return y.reshape(b, nr, nc, hr, wc, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, nr * hr, nc * wc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"RegionNonLocal expects B x C x H x W, got shape {tuple(x.shape)}")
        h, w = x.shape[2:]
        row_runs = _bands(h, region_parts(h, self.region, self.grid))
        col_runs = _bands(w, region_parts(w, self.region, self.grid))
        with float32_island(x) as (x32,):
            rows = [_cat([self._block(x32, r, c) for c in col_runs], dim=3) for r in row_runs]
            return (x32 + _cat(rows, dim=2)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"grid={self.grid}" if self.grid is not None else f"region={self.region}"
