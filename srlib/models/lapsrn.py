"""LapSRN (Lai, Huang, Ahuja, Yang: "Deep Laplacian Pyramid Networks for Fast and Accurate
Super-Resolution", CVPR 2017), following the authors' MatConvNet code (phoenix104104/LapSRN, init_LapSRN.m).

The network works on the LR image and doubles the resolution once per pyramid level:

- feature extraction branch: an input conv (3x3, 64) then, per level, `depth` = 10 convs (3x3, 64) and a
  transposed conv that upsamples the features x2, each followed by a leaky ReLU (slope 0.2); a 3x3 conv
  predicts the level's residual image from the upsampled features;
- image reconstruction branch: per level, a 4x4 transposed conv (x2, initialised to bilinear interpolation,
  learnable) upsamples the previous level's image, and the level's residual is added;
- every level has its own weights (the CVPR model; the TPAMI MS-LapSRN shares them);
- loss: Charbonnier sqrt(d^2 + 1e-6) on every level's output against the HR image downscaled to that level
  (deep supervision with equal weights); `training_outputs(lr)` returns those outputs.

The feature upsampling kernel is 3x3 with a one-pixel crop at the bottom/right in the authors' code (the
paper's text describes 4x4); `upsample_kernel` selects either, default 3 as in the code.

Scales that are not powers of two (x3): the pyramid has ceil(log2(scale)) levels (x3 -> two levels, x4) and
its output is resized to `scale` times the input with MATLAB bicubic (x3: downscale by 3/4, antialiased) --
what the authors' `SR_LapSRN.m` does when the network's scale differs from the requested one. For training,
the x3 model supervises level 1 (x2, against HR resized by 2/3) and the resized final output (x3, HR).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from srlib.models import BicubicResize, TrainingTerm, check_in_channels, check_scale


def _bilinear_kernel(size: int) -> torch.Tensor:
    """The size x size bilinear upsampling kernel (MatConvNet's `bilinear_u`; size 4 = x2)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = torch.arange(size, dtype=torch.float64)
    filt = 1 - (og - center).abs() / factor
    return (filt[:, None] * filt[None, :]).float()


class _Upsample2x(nn.Module):
    """A stride-2 transposed conv cropped to exactly twice the input size.

    The full output is 2H + k - 2 pixels; MatConvNet's crop removes floor((k-2)/2) at the top/left and the
    rest at the bottom/right (k=3: 0 and 1; k=4: 1 and 1).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, *, bias: bool, groups: int = 1):
        super().__init__()
        if kernel < 2:
            raise ValueError(f"lapsrn: upsampling kernel must be >= 2, got {kernel}")
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel, stride=2, bias=bias, groups=groups)
        self.crop = (kernel - 2) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        c = self.crop
        return self.conv(x)[..., c : c + 2 * h, c : c + 2 * w]


class LapSRN(nn.Module):
    """LapSRN behind the registry interface: `forward(lr)` takes the LR image directly."""

    published_loss = "charbonnier"

    def __init__(
        self,
        scale: int,
        *,
        in_channels: int = 1,
        depth: int = 10,
        channels: int = 64,
        upsample_kernel: int = 3,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.scale = check_scale("lapsrn", scale)
        self.in_channels = check_in_channels("lapsrn", in_channels)
        if depth < 1 or channels < 1:
            raise ValueError(f"lapsrn: need depth >= 1 and channels >= 1, got {depth}, {channels}")
        self.levels = math.ceil(math.log2(self.scale))
        exact = 2**self.levels == self.scale
        self.resize = None if exact else BicubicResize(self.scale / 2**self.levels)
        self.negative_slope = float(negative_slope)
        act = nn.LeakyReLU(self.negative_slope)
        self.input_conv = nn.Sequential(nn.Conv2d(self.in_channels, channels, 3, padding=1), act)
        self.features = nn.ModuleList()
        self.residuals = nn.ModuleList()
        self.image_up = nn.ModuleList()
        for _ in range(self.levels):
            layers: list[nn.Module] = []
            for _ in range(depth):
                layers += [nn.Conv2d(channels, channels, 3, padding=1), act]
            layers += [_Upsample2x(channels, channels, upsample_kernel, bias=True), act]
            self.features.append(nn.Sequential(*layers))
            self.residuals.append(nn.Conv2d(channels, self.in_channels, 3, padding=1))
            self.image_up.append(
                _Upsample2x(self.in_channels, self.in_channels, 4, bias=False, groups=self.in_channels)
            )
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, a=self.negative_slope, nonlinearity="leaky_relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        with torch.no_grad():
            for up in self.image_up:
                up.conv.weight.copy_(_bilinear_kernel(4).expand_as(up.conv.weight))

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context an output pixel depends on (a bound; the tiling overlap): the input conv,
        then per level l (features at 2^(l-1) x LR) `depth` 3x3 convs, the x2 transposed conv and the
        residual conv; one more pixel for the final bicubic resize of non-power-of-two scales."""
        depth = sum(isinstance(m, nn.Conv2d) for m in self.features[0])
        radius = 1 + sum((depth + 2) / 2**level for level in range(self.levels))
        return math.ceil(radius) + (0 if self.resize is None else 1)

    def pyramid(self, lr: torch.Tensor) -> list[torch.Tensor]:
        """The image of every pyramid level: x2, x4, ... (`self.levels` entries), before any final resize."""
        feat = self.input_conv(lr)
        image = lr
        outputs = []
        for features, residual, image_up in zip(self.features, self.residuals, self.image_up, strict=True):
            feat = features(feat)
            image = image_up(image) + residual(feat)
            outputs.append(image)
        return outputs

    def _finish(self, top: torch.Tensor) -> torch.Tensor:
        return top if self.resize is None else self.resize(top)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self._finish(self.pyramid(lr)[-1])

    def training_outputs(self, lr: torch.Tensor) -> list[TrainingTerm]:
        """Deep supervision: one Charbonnier term (weight 1) per pyramid level; the top level is taken after
        the resize to `scale` (see the module docstring)."""
        levels = self.pyramid(lr)
        terms = [TrainingTerm(out, float(2 ** (i + 1)), 1.0) for i, out in enumerate(levels[:-1])]
        terms.append(TrainingTerm(self._finish(levels[-1]), float(self.scale), 1.0))
        return terms
