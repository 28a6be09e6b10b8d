"""Full-image inference: uint8 image in, uint8 image out, whatever the model's input convention.

Y-only models (in_channels == 1) see the Y channel of YCbCr; Cb/Cr are upscaled by MATLAB bicubic, as the
paper's Section 4.1 describes for display.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from srlib.color import rgb2ycbcr, ycbcr2rgb
from srlib.imresize import imresize


@dataclass(frozen=True)
class SRResult:
    """An SR image and how it was computed (`mode`: "whole" or "tiled"), so results can record it."""

    image: np.ndarray
    mode: str


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


@torch.no_grad()
def super_resolve(model: nn.Module, lr: np.ndarray, device: str | torch.device | None = None) -> SRResult:
    """Super-resolve one HxWx3 uint8 RGB image with `model`; the result is (H*s)x(W*s)x3 uint8."""
    if lr.dtype != np.uint8 or lr.ndim != 3 or lr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {lr.dtype} array of shape {lr.shape}")
    device = torch.device(device) if device is not None else next(model.parameters(), torch.empty(0)).device
    model.eval()
    if model.in_channels == 1:
        ycc = rgb2ycbcr(lr.astype(np.float64) / 255.0)
        y = torch.from_numpy(ycc[..., 0].copy()).float()[None, None].to(device)
        sr_y = model(y)[0, 0].double().cpu().numpy()
        chroma = imresize(ycc[..., 1:], scale=model.scale)
        sr = ycbcr2rgb(np.concatenate([sr_y[..., None], chroma], axis=2)) * 255.0
    else:
        x = torch.from_numpy(lr).permute(2, 0, 1).float().div(255.0)[None].to(device)
        sr = model(x)[0].permute(1, 2, 0).double().cpu().numpy() * 255.0
    return SRResult(_to_uint8(sr), "whole")
