"""VDSR (Kim, Lee, Lee: "Accurate Image Super-Resolution Using Very Deep Convolutional Networks", CVPR 2016).

`depth` = 20 zero-padded 3x3 convolutions with 64 channels and ReLU between them, on the bicubic-upsampled
image, predicting the residual that is added to it (global residual learning). Trained with MSE (with
adjustable gradient clipping and SGD in the paper; the trainer decides the optimiser) on the Y channel.
He (MSRA) initialisation as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from srlib.models import BicubicResize, check_in_channels, check_scale, pre_upsampled_radius


class VDSR(nn.Module):
    """VDSR behind the registry interface: `forward(lr)` upsamples `lr` with MATLAB bicubic internally."""

    published_loss = "mse"

    def __init__(self, scale: int, *, in_channels: int = 1, depth: int = 20, channels: int = 64) -> None:
        super().__init__()
        self.scale = check_scale("vdsr", scale)
        self.in_channels = check_in_channels("vdsr", in_channels)
        self.upsample = BicubicResize(self.scale)
        if depth < 2 or channels < 1:
            raise ValueError(
                f"vdsr: need depth >= 2 and channels >= 1, got depth={depth}, channels={channels}"
            )
        widths = [self.in_channels] + [channels] * (depth - 1) + [self.in_channels]
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, padding=1) for i in range(depth))
        for conv in self.convs:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context an output pixel depends on (bicubic taps included); the tiling overlap."""
        return pre_upsampled_radius(len(self.convs), self.scale)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = self.upsample(lr)
        y = x
        for conv in self.convs[:-1]:
            y = torch.relu(conv(y))
        return x + self.convs[-1](y)
