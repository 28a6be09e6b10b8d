"""SRCNN (Dong, Loy, He, Tang: "Image Super-Resolution Using Deep Convolutional Networks", ECCV 2014 and
TPAMI 2016).

Three convolutions on the bicubic-upsampled image: patch extraction (f1 x f1, n1 filters) -> ReLU ->
non-linear mapping (f2 x f2, n2 filters) -> ReLU -> reconstruction (f3 x f3). Default: the TPAMI paper's
9-5-5 model with n1 = 64, n2 = 32 (57,281 parameters), the one whose numbers the MLRN paper's Table 2 copies
(36.66 / 32.75 / 30.48 dB on Set5, reproduced by its released weights, docs/protocol.md); the ECCV base model
is `kernel_sizes=(9, 1, 5)` (8,129 parameters). Trained with MSE on the Y channel.

Borders (see docs/models.md): the original is trained with unpadded ("valid") convolutions; an output of
exactly `scale` times the input needs padding. `padding_mode="zeros"` (default) zero-pads every convolution;
`padding_mode="replicate"` repeats the border pixels instead, which is what the authors' released test code
does (`imfilter(.., 'same', 'replicate')` in SRCNN.m) and what `srlib.released` uses with their weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from srlib.models import BicubicResize, check_in_channels, check_scale, pre_upsampled_radius

PADDING_MODES = ("zeros", "replicate")


class SRCNN(nn.Module):
    """SRCNN behind the registry interface: `forward(lr)` upsamples `lr` with MATLAB bicubic internally."""

    published_loss = "mse"

    def __init__(
        self,
        scale: int,
        *,
        in_channels: int = 1,
        kernel_sizes: Sequence[int] = (9, 5, 5),
        channels: Sequence[int] = (64, 32),
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        self.scale = check_scale("srcnn", scale)
        self.in_channels = check_in_channels("srcnn", in_channels)
        self.upsample = BicubicResize(self.scale)
        kernel_sizes, channels = tuple(int(k) for k in kernel_sizes), tuple(int(c) for c in channels)
        if len(kernel_sizes) != 3 or any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"srcnn: kernel_sizes must be three odd sizes, got {kernel_sizes}")
        if len(channels) != 2 or min(channels) < 1:
            raise ValueError(f"srcnn: channels must be two positive filter counts (n1, n2), got {channels}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"srcnn: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        widths = (self.in_channels, *channels, self.in_channels)
        self.convs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], k, padding=k // 2, padding_mode=padding_mode)
            for i, k in enumerate(kernel_sizes)
        )
        for conv in self.convs:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context an output pixel depends on (bicubic taps included); the tiling overlap."""
        return pre_upsampled_radius(sum(c.kernel_size[0] // 2 for c in self.convs), self.scale)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = self.upsample(lr)
        x = torch.relu(self.convs[0](x))
        x = torch.relu(self.convs[1](x))
        return self.convs[2](x)
