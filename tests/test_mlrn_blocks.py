"""MLRN's block formulas computed by hand on tiny float64 inputs, from the modules' own weights:
SF block, MSFF, the NL block, SOCA, the AM unit's two fusions, LS_AM's long skip, the AMMS chain, and the
whole network's global residual, mean shift and image skip (docs/paper-notes.md, "Model (MLRN)")."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srlib.models.mlrn import AMMS, LSAM, MLRN, MSFF, AMUnit, SFBlock
from srlib.models.nonlocal_attention import RegionNonLocal
from srlib.models.second_order import SecondOrderAttention

C = 4
UNIT = {"nl_region": 2, "nl_grid": None, "nl_reduction": 2, "reduction": 2, "so_iterations": 5}


def _randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter random (W_z starts at zero; biases at zero would hide a missing term), float64."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.4)
    return module.double()


def _x(h: int = 4, w: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randn(2, C, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A k x k 'same' conv as a sum over kernel offsets of shifted images (independent of F.conv2d)."""
    k = conv.kernel_size[0]
    pad = F.pad(x, [k // 2] * 4)
    h, w = x.shape[2:]
    out = conv.bias.view(1, -1, 1, 1).expand(x.shape[0], -1, h, w).clone()
    for dy in range(k):
        for dx in range(k):
            shifted = pad[:, :, dy : dy + h, dx : dx + w]
            out = out + torch.einsum("oc,bchw->bohw", conv.weight[:, :, dy, dx], shifted)
    return out


def _nl(block: RegionNonLocal, x: torch.Tensor) -> torch.Tensor:
    """z = x + W_z softmax(theta(x)^T phi(x)) g(x) in each region (the test inputs split evenly)."""
    r = block.region
    out = x.clone()
    for n in range(x.shape[0]):
        for i in range(0, x.shape[2], r):
            for j in range(0, x.shape[3], r):
                tokens = x[n, :, i : i + r, j : j + r].reshape(x.shape[1], -1).T  # L x C
                theta, phi, g = (tokens @ m.weight.T + m.bias for m in (block.theta, block.phi, block.g))
                y = torch.softmax(theta @ phi.T, dim=1) @ g @ block.out.weight.T + block.out.bias
                out[n, :, i : i + r, j : j + r] += y.T.reshape(x.shape[1], r, r)
    return out


def _soca(so: SecondOrderAttention, x: torch.Tensor) -> torch.Tensor:
    """SAN's SOCA: Sigma = X I_bar X^T, Newton-Schulz square root with trace normalisation/compensation,
    row mean, 1x1 down -> ReLU -> 1x1 up -> sigmoid, channel scaling."""
    out = []
    for feats in x.flatten(2):
        m = feats.shape[1]
        i_bar = (torch.eye(m, dtype=x.dtype) - torch.full((m, m), 1.0 / m, dtype=x.dtype)) / m
        sigma = feats @ i_bar @ feats.T
        trace = torch.trace(sigma) + 1e-5
        y, z, eye = sigma / trace, torch.eye(x.shape[1], dtype=x.dtype), torch.eye(x.shape[1], dtype=x.dtype)
        for _ in range(so.iterations):
            t = (3 * eye - z @ y) / 2
            y, z = y @ t, t @ z
        pooled = (y * trace.sqrt()).mean(dim=1)
        hidden = torch.relu(so.down.weight[:, :, 0, 0] @ pooled + so.down.bias)
        weights = torch.sigmoid(so.up.weight[:, :, 0, 0] @ hidden + so.up.bias)
        out.append(weights[:, None, None])
    return x * torch.stack(out)


def _msff(block: MSFF, x: torch.Tensor) -> torch.Tensor:
    feats = [torch.relu(_conv(branch[0], x)) for branch in block.branches]
    return x + _conv(block.fuse, torch.cat(feats, dim=1))


def _unit(unit: AMUnit, x: torch.Tensor) -> torch.Tensor:
    if unit.fuse is None:
        return _soca(unit.so, _nl(unit.nl, x))
    return x + _conv(unit.fuse, torch.cat([_nl(unit.nl, x), _soca(unit.so, x)], dim=1))


def _lsam(block: LSAM, x: torch.Tensor) -> torch.Tensor:
    y = x
    for unit in block.units:
        y = _unit(unit, y)
    return x + _conv(block.conv, y)


def _sf(block: SFBlock, x: torch.Tensor) -> torch.Tensor:
    convs = [m for m in block.body if isinstance(m, nn.Conv2d)]
    y = x
    for i, conv in enumerate(convs):
        y = _conv(conv, y)
        if i < len(convs) - 1:
            y = torch.relu(y)
    return x + y


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_sf_block_local_residual() -> None:
    block = _randomise(SFBlock(C, depth=3, act="relu"))
    x = _x()
    _close(block(x), _sf(block, x))


@pytest.mark.parametrize("multi_scale", [True, False])
def test_msff_fusion(multi_scale: bool) -> None:
    """x + 1x1(concat[act(1x1 x), act(3x3 x), act(5x5 x)]), or x + 1x1(act(3x3 x)) without multi-scale."""
    block = _randomise(MSFF(C, "relu", multi_scale))
    assert [b[0].kernel_size[0] for b in block.branches] == ([1, 3, 5] if multi_scale else [3])
    x = _x()
    _close(block(x), _msff(block, x))


def test_non_local_block_formula() -> None:
    block = _randomise(RegionNonLocal(C, region=2))
    x = _x()
    _close(block(x), _nl(block, x))


def test_soca_formula() -> None:
    so = _randomise(SecondOrderAttention(C, reduction=2, iterations=5))
    x = _x()
    _close(so(x), _soca(so, x))


@pytest.mark.parametrize("fusion", ["concat", "sequential"])
def test_am_unit_fusion(fusion: str) -> None:
    """concat: x + 1x1(concat[NL(x), SO(x)]) (both branches on the unit input); sequential: SO(NL(x))."""
    unit = _randomise(AMUnit(C, non_local=True, second_order=True, fusion=fusion, **UNIT))
    x = _x()
    _close(unit(x), _unit(unit, x))


def test_am_unit_with_disabled_branches_uses_the_identity() -> None:
    unit = _randomise(AMUnit(C, non_local=False, second_order=False, fusion="concat", **UNIT))
    x = _x()
    _close(unit(x), x + _conv(unit.fuse, torch.cat([x, x], dim=1)))


def test_ls_am_long_skip_and_amms_chain() -> None:
    """LS_AM = x + 3x3(AM_M(...AM_1(x))); AMMS = LS_AM(MSFF(MSFF(x)))."""
    lsam = _randomise(LSAM(C, 2, non_local=True, second_order=True, fusion="concat", **UNIT))
    x = _x()
    _close(lsam(x), _lsam(lsam, x))
    amms = _randomise(AMMS(C, "relu", True, 1, non_local=True, second_order=True, fusion="concat", **UNIT))
    msff1, msff2, ls = amms
    _close(amms(x), _lsam(ls, _msff(msff2, _msff(msff1, x))))


@pytest.mark.parametrize("image_skip", [False, True])
def test_whole_network_residuals(image_skip: bool) -> None:
    """head(x - mean) = F0; feats = tail_SF(AMMS...(SF(F0))) + F0; out = conv(up(feats)) + mean, or
    + bicubic(x) with the image skip (torch bicubic, align_corners=False)."""
    torch.manual_seed(0)
    model = MLRN(2, channels=C, n_blocks=2, sf_depth=2, reduction=2, nl_region=2, image_skip=image_skip)
    model = _randomise(model)
    lr = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mean = model.add_mean.shift.double()
    f0 = _conv(model.head, lr - mean)
    y = _sf(model.sf, f0)
    for msff1, msff2, lsam in model.body:
        y = _lsam(lsam, _msff(msff2, _msff(msff1, y)))
    feats = _sf(model.tail_sf, y) + f0
    up = F.pixel_shuffle(_conv(model.upsample[0], feats), 2)
    out = _conv(model.reconstruct, up)
    skip = F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False) if image_skip else mean
    _close(model(lr), out + skip)
