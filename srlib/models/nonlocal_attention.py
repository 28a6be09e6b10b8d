"""Region-level embedded-Gaussian non-local attention (NLNN, Wang et al. 2018; region-level as in SAN).

z = x + W_z softmax(theta(x)^T phi(x)) g(x), where theta, phi, g and W_z are 1x1 convolutions. A 1x1
convolution is a linear map of each pixel's channel vector, so they are `nn.Linear` layers applied to the
pixel tokens of each region. Attention is restricted to the regions of a `grid x grid` split of the feature
map, and computed with `scaled_dot_product_attention`, which on CPU never materialises the L x L weights --
*provided* q, k, v are contiguous 4-d tensors. Non-contiguous views (e.g. `x.flatten(2).transpose(1, 2)`) or
3-d inputs silently take a fallback that builds the full L x L matrix (measured with torch 2.13 on CPU, one
96 x 96 region of 16 channels: peak RSS +733 MiB and 3.3 s instead of +3 MiB and 0.7 s), so every tensor
handed to it here is contiguous and 4-d (tests/test_attention.py checks both).

Sizes not divisible by the grid: regions are uneven, split like `torch.tensor_split` (the first H mod grid
region rows are one pixel taller, same for columns). That cuts the map into at most 2 x 2 blocks in each of
which all regions have one shape, so each block is one batched attention call and no padding or masking is
needed. A grid larger than the map is clamped to one pixel per region.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _cat(parts: list[torch.Tensor], dim: int) -> torch.Tensor:
    """torch.cat that skips the copy for a single part (the usual, evenly divisible case)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def _bands(length: int, parts: int) -> list[tuple[int, int, int]]:
    """(start, count, size) runs of a tensor_split of `length` into `parts`: `count` regions of `size`."""
    size, rem = divmod(length, parts)
    runs = [(0, rem, size + 1), (rem * (size + 1), parts - rem, size)]
    return [run for run in runs if run[1] > 0 and run[2] > 0]


class RegionNonLocal(nn.Module):
    """Embedded-Gaussian non-local block with attention inside each region of a `grid x grid` split.

    `reduction` sets the embedding width C // reduction (NLNN and SAN use C / 2). The softmax is over raw dot
    products (scale 1), which is the embedded-Gaussian definition f = exp(theta^T phi).
    """

    def __init__(self, channels: int, grid: int = 4, reduction: int = 2) -> None:
        super().__init__()
        if grid < 1:
            raise ValueError(f"non-local grid must be >= 1 region per side, got {grid}")
        inner = channels // reduction
        if inner < 1:
            raise ValueError(f"non-local reduction {reduction} leaves no channels out of {channels}")
        self.grid = grid
        self.theta = nn.Linear(channels, inner)
        self.phi = nn.Linear(channels, inner)
        self.g = nn.Linear(channels, inner)
        self.out = nn.Linear(inner, channels)

    def _attend(self, tokens: torch.Tensor) -> torch.Tensor:
        """Attention within each of R regions: tokens R x L x C (contiguous) -> R x L x C."""
        q = self.theta(tokens).unsqueeze(1).contiguous()
        k = self.phi(tokens).unsqueeze(1).contiguous()
        v = self.g(tokens).unsqueeze(1).contiguous()
        y = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return self.out(y.squeeze(1))

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
        row_runs = _bands(h, min(self.grid, h))
        col_runs = _bands(w, min(self.grid, w))
        rows = [_cat([self._block(x, r, c) for c in col_runs], dim=3) for r in row_runs]
        return x + _cat(rows, dim=2)
