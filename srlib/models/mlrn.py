"""MLRN: attention (non-local + second-order) and multi-scale feature fusion network (the paper's model).

    x -> mean shift -> 3x3 conv (coarse features F0) -> SF block -> AMMS x n_blocks -> SF block (tail)
      -> + F0 (global residual) -> upsampler -> 3x3 conv -> + mean (or + bicubic(x) with image_skip)

    SF block  = x + (1x1 conv, act) x (depth - 1), 1x1 conv     ("several 1x1 convs + local residual")
    AMMS      = MSFF -> MSFF -> LS_AM
    MSFF      = x + 1x1( concat[act(1x1 x), act(3x3 x), act(5x5 x)] )
    LS_AM     = x + 3x3( AM_M(...AM_1(x)) )                          (long skip connection)
    AM unit   = x + 1x1( concat[NL(x), SO(x)] )   (fusion="concat"), or SO(NL(x)) (fusion="sequential")

The NL branch attends within regions of about `nl_region` x `nl_region` LR pixels, the same size on a
training patch and on a test image (`nl_grid`, legacy: a fixed number of regions per side instead).
Mixed precision: the mean shift, the image skip, the final 3x3 conv, the NL block and the SO statistics run
in float32 under any autocast (`common.float32_island`), so the output is float32 (docs/paper-notes.md,
"Mixed precision", has the measurements).

Every size the paper leaves open is a keyword option; docs/paper-notes.md ("Model (MLRN)") gives the paper's
wording and the reason for each default. Ablation switches (Table 1): `non_local=False` / `second_order=False`
replace that attention branch by the identity; `multi_scale=False` replaces each MSFF by a single 3x3 path,
x + 1x1(act(3x3 x)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srlib.core.paper import SCALES
from srlib.models.common import (
    ACTIVATIONS,
    DIV2K_RGB_MEAN,
    MeanShift,
    Upsampler,
    activation,
    float32_island,
    y_of_rgb_mean,
)
from srlib.models.nonlocal_attention import RegionNonLocal
from srlib.models.second_order import SecondOrderAttention, check_iterations

FUSIONS = ("concat", "sequential")
UPSAMPLERS = ("progressive", "single")


class SFBlock(nn.Module):
    """Shallow-feature block: `depth` 1x1 convs with activations between them, plus a local residual."""

    def __init__(self, channels: int, depth: int, act: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Conv2d(channels, channels, 1))
            if i < depth - 1:
                layers.append(activation(act, channels))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MSFF(nn.Module):
    """Multi-scale feature fusion: parallel 1x1, 3x3, 5x5 convs, each followed by the activation, fused by
    concat + 1x1 conv, with a residual. `multi_scale=False` keeps only the 3x3 path (ablation)."""

    def __init__(self, channels: int, act: str, multi_scale: bool = True) -> None:
        super().__init__()
        kernels = (1, 3, 5) if multi_scale else (3,)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, k, padding=k // 2), activation(act, channels))
            for k in kernels
        )
        self.fuse = nn.Conv2d(channels * len(kernels), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [branch(x) for branch in self.branches]
        return x + self.fuse(feats[0] if len(feats) == 1 else torch.cat(feats, dim=1))


class AMUnit(nn.Module):
    """Attention unit: a non-local (NL) and a second-order (SO) branch fused into one output.

    A disabled branch is the identity. `fusion="concat"` runs both on the unit input and fuses them by
    x + 1x1(concat[NL(x), SO(x)]); `fusion="sequential"` is SO(NL(x)), SAN's order, with no fusion weights.
    """

    def __init__(
        self,
        channels: int,
        *,
        non_local: bool,
        second_order: bool,
        fusion: str,
        nl_region: int,
        nl_grid: int | None,
        nl_reduction: int,
        reduction: int,
        so_iterations: int,
    ) -> None:
        super().__init__()
        self.fusion = fusion
        self.nl = (
            RegionNonLocal(channels, nl_region, nl_reduction, grid=nl_grid) if non_local else nn.Identity()
        )
        self.so = SecondOrderAttention(channels, reduction, so_iterations) if second_order else nn.Identity()
        self.fuse = nn.Conv2d(2 * channels, channels, 1) if fusion == "concat" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fuse is None:
            return self.so(self.nl(x))
        return x + self.fuse(torch.cat([self.nl(x), self.so(x)], dim=1))


class LSAM(nn.Module):
    """LS_AM: M attention units, a 3x3 conv, and the long skip connection from the module input."""

    def __init__(self, channels: int, n_units: int, **unit_options: object) -> None:
        super().__init__()
        self.units = nn.Sequential(*(AMUnit(channels, **unit_options) for _ in range(n_units)))
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(self.units(x))


class AMMS(nn.Sequential):
    """Attention and multi-scale block: MSFF -> MSFF -> LS_AM."""

    def __init__(
        self, channels: int, act: str, multi_scale: bool, n_units: int, **unit_options: object
    ) -> None:
        super().__init__(
            MSFF(channels, act, multi_scale),
            MSFF(channels, act, multi_scale),
            LSAM(channels, n_units, **unit_options),
        )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"MLRN: unknown {name} {value!r}; valid: {', '.join(choices)}")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"MLRN: {name} must be a positive integer, got {value!r}")


def _check_options(
    scale: int,
    in_channels: int,
    act: str,
    fusion: str,
    upsampler: str,
    so_iterations: int,
    nl_grid: int | None,
    **sizes: int,
) -> None:
    """MLRN's constructor arguments, refused with the option's name before any layer is built."""
    if scale not in SCALES:
        raise ValueError(f"MLRN supports scales {SCALES}, got {scale!r}")
    if in_channels not in (1, 3):
        raise ValueError(f"MLRN in_channels must be 3 (RGB) or 1 (Y), got {in_channels!r}")
    _check_positive(**sizes)
    if nl_grid is not None:
        _check_positive(nl_grid=nl_grid)
    check_iterations(so_iterations)
    _check_choice("act", act, ACTIVATIONS)
    _check_choice("fusion", fusion, FUSIONS)
    _check_choice("upsampler", upsampler, UPSAMPLERS)


class MLRN(nn.Module):
    """The paper's network. Input: LR float N x in_channels x H x W in [0, 1]; output: SR at `scale`.

    Defaults are the "paper-size" model (64 channels as in RCAN/SAN; block counts bounded by the paper's
    training cost and by whole-image CPU inference, see docs/paper-notes.md). Training profiles choose
    smaller sizes through the same options.
    """

    def __init__(
        self,
        scale: int,
        *,
        in_channels: int = 3,
        channels: int = 64,
        n_blocks: int = 3,
        n_units: int = 1,
        sf_depth: int = 3,
        reduction: int = 16,
        so_iterations: int = 5,
        nl_region: int = 16,
        nl_grid: int | None = None,
        nl_reduction: int = 2,
        act: str = "relu",
        fusion: str = "concat",
        upsampler: str = "progressive",
        image_skip: bool = False,
        non_local: bool = True,
        second_order: bool = True,
        multi_scale: bool = True,
    ) -> None:
        super().__init__()
        _check_options(
            scale, in_channels, act, fusion, upsampler, so_iterations, nl_grid,
            channels=channels, n_blocks=n_blocks, n_units=n_units, sf_depth=sf_depth, reduction=reduction,
            nl_region=nl_region, nl_reduction=nl_reduction,
        )  # fmt: skip
        self.scale = scale
        self.in_channels = in_channels
        self.image_skip = image_skip
        mean = DIV2K_RGB_MEAN if in_channels == 3 else (y_of_rgb_mean(),)

        self.sub_mean = MeanShift(mean, -1)
        self.add_mean = MeanShift(mean, +1)
        self.head = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.sf = SFBlock(channels, sf_depth, act)
        unit_options = {
            "non_local": non_local,
            "second_order": second_order,
            "fusion": fusion,
            "nl_region": nl_region,
            "nl_grid": nl_grid,
            "nl_reduction": nl_reduction,
            "reduction": reduction,
            "so_iterations": so_iterations,
        }
        self.body = nn.Sequential(
            *(AMMS(channels, act, multi_scale, n_units, **unit_options) for _ in range(n_blocks))
        )
        self.tail_sf = SFBlock(channels, sf_depth, act)
        self.upsample = Upsampler(scale, channels, progressive=upsampler == "progressive")
        self.reconstruct = nn.Conv2d(channels, in_channels, 3, padding=1)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        if lr.dim() != 4 or lr.shape[1] != self.in_channels:
            raise ValueError(
                f"MLRN expects N x {self.in_channels} x H x W input in [0, 1], got shape {tuple(lr.shape)}"
            )
        coarse = self.head(self.sub_mean(lr))
        feats = self.tail_sf(self.body(self.sf(coarse))) + coarse
        with float32_island(self.upsample(feats)) as (up,):
            rc = self.reconstruct
            out = F.conv2d(up, rc.weight.to(up.dtype), rc.bias.to(up.dtype), padding=rc.padding)
        if not self.image_skip:
            return self.add_mean(out)
        with float32_island(out, lr) as (out, lr):
            return out + F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
