"""Layers shared by the models: RGB mean shift, pixel-shuffle upsampler, activation by name, and the
float32 islands that keep precision-critical steps out of mixed precision."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

# DIV2K training-set RGB mean in [0, 1], as in EDSR/RCAN/SAN; the paper subtracts it (Section 4.2).
DIV2K_RGB_MEAN: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)

ACTIVATIONS = ("relu", "leaky_relu", "prelu")


def y_of_rgb_mean(rgb: tuple[float, float, float] = DIV2K_RGB_MEAN) -> float:
    """Y (MATLAB BT.601, [0, 1] scale with the 16/255 offset) of an RGB mean, for Y-only models."""
    r, g, b = rgb
    return 16.0 / 255.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


@contextlib.contextmanager
def float32_island(*tensors: torch.Tensor) -> Iterator[tuple[torch.Tensor, ...]]:
    """Autocast disabled on the tensors' device, and the tensors cast to at least float32 (float64 stays,
    no copy if they already are).

    For the steps whose rounding reaches the output directly or is amplified: the in-model bicubic resize
    (a matmul, which CUDA autocast would run in half precision), the mean shift and the image-level
    residual adds (bf16 values in [0.5, 1) are 2^-8 apart, so rounding errs by up to +-0.5 grey level),
    the non-local logits and the second-order covariance / Newton-Schulz iteration.

        with float32_island(x, skip) as (x, skip):
            out = x + skip
    """
    device_type = tensors[0].device.type if tensors else "cpu"
    with torch.autocast(device_type=device_type, enabled=False):
        yield tuple(t if t.dtype == torch.float64 else t.float() for t in tensors)


class MeanShift(nn.Module):
    """Adds `sign * mean` per channel, in float32 (a float32 island); a fixed buffer, so it is saved with
    the weights but never trained."""

    def __init__(self, mean: tuple[float, ...], sign: int) -> None:
        super().__init__()
        if sign not in (-1, 1):
            raise ValueError(f"MeanShift sign must be -1 or +1, got {sign}")
        self.register_buffer("shift", sign * torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with float32_island(x) as (x32,):
            return x32 + self.shift


def activation(name: str, channels: int) -> nn.Module:
    """The nonlinearity `name` (one of ACTIVATIONS); PReLU learns one slope per channel."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2, inplace=True)
    if name == "prelu":
        return nn.PReLU(channels)
    raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")


class Upsampler(nn.Sequential):
    """Sub-pixel upsampling (ESPCN): conv to C*r^2 channels, then PixelShuffle(r).

    `progressive=True` builds x4 as two x2 steps (EDSR/RCAN/SAN); otherwise one step of factor `scale`.
    No activation, as in EDSR.
    """

    def __init__(self, scale: int, channels: int, progressive: bool = True) -> None:
        if scale not in (2, 3, 4):
            raise ValueError(f"Upsampler supports scales 2, 3, 4, got {scale}")
        steps = [2, 2] if scale == 4 and progressive else [scale]
        layers: list[nn.Module] = []
        for r in steps:
            layers += [nn.Conv2d(channels, channels * r * r, 3, padding=1), nn.PixelShuffle(r)]
        super().__init__(*layers)
