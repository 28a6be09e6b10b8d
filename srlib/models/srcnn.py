"""SRCNN (Dong, Loy, He, Tang: "Image Super-Resolution Using Deep Convolutional Networks", ECCV 2014 and
TPAMI 2016).

Three convolutions on the bicubic-upsampled image: patch extraction (f1 x f1, n1 filters) -> ReLU ->
non-linear mapping (f2 x f2, n2 filters) -> ReLU -> reconstruction (f3 x f3). The published base model is
9-1-5 with n1 = 64, n2 = 32 (`kernel_sizes=(9, 1, 5)`); the TPAMI paper's better 9-5-5 variant is
`kernel_sizes=(9, 5, 5)`. Trained with MSE on the Y channel.

Deviation (see docs/models.md): the original uses unpadded ("valid") convolutions, so its output is 12
pixels smaller than its input and its evaluation crops borders; here every convolution is zero-padded to
keep the size, as the registry interface requires an output of exactly `scale` times the input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from srlib.models import BicubicResize, check_in_channels, check_scale, pre_upsampled_radius


class SRCNN(nn.Module):
    """SRCNN behind the registry interface: `forward(lr)` upsamples `lr` with MATLAB bicubic internally."""

    published_loss = "mse"

    def __init__(
        self,
        scale: int,
        *,
        in_channels: int = 1,
        kernel_sizes: Sequence[int] = (9, 1, 5),
        channels: Sequence[int] = (64, 32),
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
        widths = (self.in_channels, *channels, self.in_channels)
        self.convs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], k, padding=k // 2) for i, k in enumerate(kernel_sizes)
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
