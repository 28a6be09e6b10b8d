"""Region non-local attention: equals a naive per-region reference and never builds an L x L matrix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import srlib.models.nonlocal_attention as nl_module
from srlib.models.nonlocal_attention import RegionNonLocal


def _naive(block: RegionNonLocal, x: torch.Tensor) -> torch.Tensor:
    """Per image and per region (torch.tensor_split grid): x + W_z softmax(theta phi^T) g, written out."""
    out = x.clone()
    h, w = x.shape[2:]
    row_idx = torch.tensor_split(torch.arange(h), min(block.grid, h))
    col_idx = torch.tensor_split(torch.arange(w), min(block.grid, w))
    for n in range(x.shape[0]):
        for rows in row_idx:
            for cols in col_idx:
                region = x[n][:, rows][:, :, cols]
                tokens = region.reshape(x.shape[1], -1).T
                weights = torch.softmax(block.theta(tokens) @ block.phi(tokens).T, dim=1)
                y = block.out(weights @ block.g(tokens))
                out[n][:, rows[:, None], cols[None, :]] += y.T.reshape(region.shape)
    return out


@pytest.mark.parametrize(("h", "w", "grid"), [(8, 8, 2), (7, 10, 3), (5, 9, 4), (3, 2, 4), (6, 6, 1)])
def test_region_attention_matches_naive_reference(h: int, w: int, grid: int) -> None:
    torch.manual_seed(h * w + grid)
    block = RegionNonLocal(6, grid=grid).double()
    x = torch.randn(2, 6, h, w, dtype=torch.float64)
    torch.testing.assert_close(block(x), _naive(block, x), rtol=1e-10, atol=1e-10)


def test_regions_do_not_interact() -> None:
    torch.manual_seed(0)
    block = RegionNonLocal(4, grid=2)
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
    RegionNonLocal(8, grid=3)(torch.randn(2, 8, 10, 7))
    assert seen and all(dim == 4 and contiguous for dim, contiguous in seen)


_MEMORY_PROBE = """
import json, resource, sys, time, torch
from srlib.models.nonlocal_attention import RegionNonLocal
torch.manual_seed(0)
block = RegionNonLocal(16, grid=1)
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
    block = RegionNonLocal(8, grid=2)
    x = torch.randn(1, 8, 5, 7, requires_grad=True)
    block(x).square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
    with pytest.raises(ValueError, match="B x C x H x W"):
        block(torch.randn(8, 5, 7))
    with pytest.raises(ValueError, match="grid"):
        RegionNonLocal(8, grid=0)
    with pytest.raises(ValueError, match="reduction"):
        RegionNonLocal(2, reduction=4)
