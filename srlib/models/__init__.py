"""Model registry: every model of Table 1 and Table 2 is built by name with `build_model`.

Interface shared by all models (see docs/architecture.md):
- `forward(lr)` takes the LR image as float NCHW in [0, 1] with `model.in_channels` channels and returns the
  SR image at `model.scale` (not clamped). Pre-upsampling models (SRCNN, VDSR, MemNet) do their MATLAB-bicubic
  upsampling inside `forward`, so callers never see the difference.
- attributes `scale: int`, `in_channels: int` (3 = RGB, 1 = Y of YCbCr).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

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
