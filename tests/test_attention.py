"""Region non-local attention: equals a naive per-region reference, regions of a fixed pixel size, W_z zero at
init, and never builds an L x L matrix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import srlib.models.nonlocal_attention as nl_module
from srlib.models.nonlocal_attention import RegionNonLocal, region_sizes


def _trained(block: RegionNonLocal, seed: int = 0) -> RegionNonLocal:
    """W_z starts at zero (the block is the identity); give it random weights, as training would."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        block.out.weight.copy_(torch.randn(block.out.weight.shape, generator=gen) * 0.3)
        block.out.bias.copy_(torch.randn(block.out.bias.shape, generator=gen) * 0.1)
    return block


def _parts(length: int, block: RegionNonLocal) -> int:
    """The reference rule, written independently: length // region regions (at least 1), or the grid."""
    if block.grid is not None:
        return min(block.grid, length)
    return max(1, length // block.region)


def _naive(block: RegionNonLocal, x: torch.Tensor) -> torch.Tensor:
    """Per image and per region (torch.tensor_split of each axis): x + W_z softmax(theta phi^T) g."""
    out = x.clone()
    h, w = x.shape[2:]
    row_idx = torch.tensor_split(torch.arange(h), _parts(h, block))
    col_idx = torch.tensor_split(torch.arange(w), _parts(w, block))
    for n in range(x.shape[0]):
        for rows in row_idx:
            for cols in col_idx:
                region = x[n][:, rows][:, :, cols]
                tokens = region.reshape(x.shape[1], -1).T
                weights = torch.softmax(block.theta(tokens) @ block.phi(tokens).T, dim=1)
                y = block.out(weights @ block.g(tokens))
                out[n][:, rows[:, None], cols[None, :]] += y.T.reshape(region.shape)
    return out


@pytest.mark.parametrize(
    ("h", "w", "region"), [(8, 8, 4), (7, 10, 3), (5, 9, 2), (3, 2, 4), (6, 6, 6), (17, 12, 8), (9, 9, 1)]
)
def test_region_attention_matches_naive_reference(h: int, w: int, region: int) -> None:
    torch.manual_seed(h * w + region)
    block = _trained(RegionNonLocal(6, region=region)).double()
    x = torch.randn(2, 6, h, w, dtype=torch.float64)
    torch.testing.assert_close(block(x), _naive(block, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("h", "w", "grid"), [(8, 8, 2), (7, 10, 3), (3, 2, 4)])
def test_legacy_grid_matches_naive_reference(h: int, w: int, grid: int) -> None:
    torch.manual_seed(h * w + grid)
    block = _trained(RegionNonLocal(6, grid=grid)).double()
    x = torch.randn(2, 6, h, w, dtype=torch.float64)
    torch.testing.assert_close(block(x), _naive(block, x), rtol=1e-10, atol=1e-10)


def test_region_sizes_do_not_depend_on_the_image_size() -> None:
    """Training patches and test images get regions of the same size: at least `region` (or the whole axis
    when shorter) and below 2 x region, the remainder spread one pixel at a time."""
    assert region_sizes(24, 8) == [8, 8, 8]
    assert region_sizes(12, 8) == [12]
    assert region_sizes(6, 8) == [6]
    assert region_sizes(512, 16) == [16] * 32
    assert region_sizes(341, 16) == [17] * 5 + [16] * 16
    for length in range(1, 300):
        for region in (1, 3, 8, 16):
            sizes = region_sizes(length, region)
            assert sum(sizes) == length
            assert min(sizes) >= min(region, length) and max(sizes) < max(2 * region, length + 1)
    # the legacy grid: the number of regions is fixed, their size grows with the input
    assert region_sizes(24, grid=8) == [3] * 8 and region_sizes(512, grid=8) == [64] * 8


def test_untrained_block_is_the_identity() -> None:
    """W_z (and its bias) start at zero as in NLNN and SAN; the first update still reaches W_z."""
    torch.manual_seed(0)
    block = RegionNonLocal(8, region=4)
    assert block.out.weight.abs().max() == 0 and block.out.bias.abs().max() == 0
    x = torch.randn(1, 8, 8, 8, requires_grad=True)
    y = block(x)
    assert torch.equal(y, x)
    y.square().mean().backward()
    assert block.out.weight.grad.abs().sum() > 0


def test_regions_do_not_interact() -> None:
    torch.manual_seed(0)
    block = _trained(RegionNonLocal(4, region=4))
    x = torch.randn(1, 4, 8, 8)
    changed = x.clone()
    changed[:, :, :4, :4] += 1.0
    diff = (block(changed) - block(x)).abs().sum(dim=1)[0]
    assert diff[:4, :4].min() > 0
    assert diff[4:, :].max() == 0 and diff[:, 4:].max() == 0


def test_attention_inputs_are_contiguous_4d(monkeypatch: pytest.MonkeyPatch) -> None:
    """Non-contiguous or 3-d q/k/v make CPU SDPA fall back to an L x L path: guard the calling convention."""
    seen: list[tuple[int, bool]] = []
    original = nl_module.F.scaled_dot_product_attention

    def spy(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs: object) -> torch.Tensor:
        seen.extend((t.dim(), t.is_contiguous()) for t in (q, k, v))
        return original(q, k, v, **kwargs)

    monkeypatch.setattr(nl_module.F, "scaled_dot_product_attention", spy)
    RegionNonLocal(8, region=3)(torch.randn(2, 8, 10, 7))
    assert seen and all(dim == 4 and contiguous for dim, contiguous in seen)


_MEMORY_PROBE = """
import json, resource, sys, time, torch
from srlib.models.nonlocal_attention import RegionNonLocal
torch.manual_seed(0)
block = RegionNonLocal(16, region=96)
x = torch.randn(1, 16, 96, 96)
with torch.no_grad():
    block(torch.randn(1, 16, 8, 8))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    block(x)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mib": (after - before) / 1024}))
"""


@pytest.mark.slow
def test_global_attention_memory_stays_linear() -> None:
    """96 x 96 with one region: L = 9216 tokens, so an L x L float32 matrix alone is 324 MiB.

    Measured with torch 2.13 on CPU: the contiguous path grows peak RSS by ~3 MiB, the fallback by ~730 MiB.
    """
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE], capture_output=True, text=True, timeout=300, check=True
    )
    growth = json.loads(result.stdout.strip().splitlines()[-1])["growth_mib"]
    assert growth < 100, f"non-local attention grew peak RSS by {growth:.0f} MiB: SDPA fell back to L x L"


def test_gradients_and_bad_input() -> None:
    torch.manual_seed(0)
    block = _trained(RegionNonLocal(8, region=3))
    x = torch.randn(1, 8, 5, 7, requires_grad=True)
    block(x).square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
    with pytest.raises(ValueError, match="B x C x H x W"):
        block(torch.randn(8, 5, 7))
    with pytest.raises(ValueError, match="region"):
        RegionNonLocal(8, region=0)
    with pytest.raises(ValueError, match="grid"):
        RegionNonLocal(8, grid=0)
    with pytest.raises(ValueError, match="reduction"):
        RegionNonLocal(2, reduction=4)
