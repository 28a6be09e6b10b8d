"""Bicubic: the non-learned baseline of Table 2, behind the same interface as the networks."""

from __future__ import annotations

import torch
from torch import nn

from srlib.core.imresize import imresize


class Bicubic(nn.Module):
    """MATLAB bicubic upscaling by `scale` (no parameters).

    The resize runs in float64 whatever the input dtype, so a float32 caller gets MATLAB's values to float32
    precision and the Table 2 Bicubic row is reproduced exactly.
    """

    def __init__(self, scale: int, in_channels: int = 3) -> None:
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"Bicubic: scale must be a positive integer, got {scale!r}")
        if in_channels not in (1, 3):
            raise ValueError(f"Bicubic: in_channels must be 1 (Y) or 3 (RGB), got {in_channels!r}")
        self.scale = scale
        self.in_channels = in_channels
        # LR pixels of context a tile needs for an exact result (the cubic kernel reaches 2 pixels each way);
        # srlib.inference uses it as the default tile overlap.
        self.receptive_radius = 2

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        if lr.ndim != 4 or lr.shape[1] != self.in_channels:
            raise ValueError(
                f"Bicubic: expected an N x {self.in_channels} x H x W tensor, got shape {tuple(lr.shape)}"
            )
        return imresize(lr.double(), scale=self.scale).to(lr.dtype)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, in_channels={self.in_channels}"
