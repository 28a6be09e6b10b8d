"""Model registry: every model of Table 1 and Table 2 is built by name with `build_model`.

Interface shared by all models (see docs/architecture.md):
- `forward(lr)` takes the LR image as float NCHW in [0, 1] with `model.in_channels` channels and returns the
  SR image at `model.scale` (not clamped). Pre-upsampling models (SRCNN, VDSR, MemNet) do their MATLAB-bicubic
  upsampling inside `forward`, so callers never see the difference.
- attributes `scale: int`, `in_channels: int` (3 = RGB, 1 = Y of YCbCr).
- optional `published_loss: str` ("l1", "mse" or "charbonnier"; default "l1", the MLRN paper's loss) and
  `training_outputs(lr) -> list[TrainingTerm]` for models whose published loss supervises more than the final
  output (LapSRN's pyramid levels, MemNet's multi-supervision). Trainers call the module-level
  `training_outputs(model, lr)` / `published_loss(model)`, which fall back to the plain forward and L1.
"""

from __future__ import annotations

import importlib
import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

# name -> "module:factory"; factories take (scale, **options) and return an nn.Module.
_REGISTRY: dict[str, str] = {
    "bicubic": "srlib.models.bicubic:Bicubic",
    "srcnn": "srlib.models.srcnn:SRCNN",
    "vdsr": "srlib.models.vdsr:VDSR",
    "lapsrn": "srlib.models.lapsrn:LapSRN",
    "memnet": "srlib.models.memnet:MemNet",
    "mlrn": "srlib.models.mlrn:MLRN",
}


def model_names() -> list[str]:
    return list(_REGISTRY)


def model_factory(name: str) -> Callable[..., nn.Module]:
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(model_names())}")
    module_name, attr = _REGISTRY[key].split(":")
    return getattr(importlib.import_module(module_name), attr)


def model_options(name: str) -> dict[str, Any]:
    """The options `build_model(name, scale, **options)` accepts, with their defaults."""
    params = inspect.signature(model_factory(name)).parameters
    return {
        k: p.default
        for k, p in params.items()
        if k not in ("self", "scale") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def registry_name(net: nn.Module) -> str | None:
    """The registry name of a model built by `build_model` (from its class), None for any other module."""
    cls = type(net)
    for name, target in _REGISTRY.items():
        module_name, attr = target.split(":")
        if cls.__module__ == module_name and cls.__name__ == attr:
            return name
    return None


def build_model(name: str, scale: int, **options: Any) -> nn.Module:
    """Build model `name` for `scale`; unknown options raise a ValueError listing the valid ones."""
    factory = model_factory(name)
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for model {name!r}; valid options: "
            + ", ".join(f"{k}={v!r}" for k, v in valid.items())
        )
    return factory(scale=scale, **options)


class TrainingTerm(NamedTuple):
    """One supervised output of a model: `loss += weight * loss_fn(output, target)`.

    `scale` is the output's size relative to the LR input. The target is the HR patch when `scale ==
    model.scale`, else the HR patch resized by `scale / model.scale` with MATLAB bicubic
    (`srlib.core.imresize.imresize`), as LapSRN does for its coarser pyramid levels.
    """

    output: torch.Tensor
    scale: float
    weight: float


def training_outputs(model: nn.Module, lr: torch.Tensor) -> list[TrainingTerm]:
    """The outputs the model's published loss supervises; `[final output]` for models that define none."""
    method = getattr(model, "training_outputs", None)
    if method is None:
        return [TrainingTerm(model(lr), float(model.scale), 1.0)]
    return list(method(lr))


def published_loss(model: nn.Module) -> str:
    """The per-pixel loss the model's own paper trains with: "l1" (default), "mse" or "charbonnier"."""
    return str(getattr(model, "published_loss", "l1"))


class BicubicResize(nn.Module):
    """MATLAB bicubic resize of the last two dims by a fixed factor (`core.imresize.imresize`), as a module:
    the pre-upsampling of SRCNN/VDSR/MemNet and LapSRN's x3 resize. A fixed, non-learned step that
    `srlib.models.complexity` leaves out of the multiply-add counts. Runs in float32 under any autocast
    (`common.float32_island`): it is a matmul, which CUDA autocast would otherwise run in half precision,
    and its output is the image that pre-upsampling models add their residual to."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from srlib.core.imresize import imresize
        from srlib.models.common import float32_island

        with float32_island(x) as (x32,):
            return imresize(x32, scale=self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def check_scale(name: str, scale: Any) -> int:
    """`scale` as an int >= 2, or a ValueError naming the model."""
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale < 2:
        raise ValueError(f"{name}: scale must be an integer >= 2, got {scale!r}")
    return int(scale)


def check_in_channels(name: str, in_channels: Any) -> int:
    """`in_channels` as 1 (Y of YCbCr) or 3 (RGB), or a ValueError naming the model."""
    if isinstance(in_channels, bool) or in_channels not in (1, 3):
        raise ValueError(f"{name}: in_channels must be 1 (Y) or 3 (RGB), got {in_channels!r}")
    return int(in_channels)


def pre_upsampled_radius(hr_radius: int, scale: int) -> int:
    """Receptive radius in LR pixels of a network run on the bicubic-upsampled image: its own `hr_radius`
    (HR pixels) mapped to LR, plus the 2 LR pixels that MATLAB's bicubic taps reach."""
    return math.ceil(hr_radius / scale) + 2
