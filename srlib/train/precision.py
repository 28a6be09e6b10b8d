"""Precision and execution modes of a training step: autocast (`amp`), channels_last, torch.compile.

Why these are the trainer's business and not the models': autocast runs convolutions and matmuls in bf16 or
fp16 while the weights, the optimizer state and the loss stay float32; the models themselves keep the parts
that need float32 (resize, residual adds, covariance / Newton-Schulz, attention logits) in float32 islands, so
the same model code serves every mode. fp16 needs a GradScaler (its range is too small for raw gradients),
which the trainer creates; bf16 has float32's range and needs none.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from srlib.train.config import ConfigError


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision mode on `device`; a mode the device cannot run is refused before
    training (fp16 needs CUDA for its GradScaler; bf16 needs a CPU or a CUDA GPU that supports it)."""
    if mode == "none":
        return None
    if mode == "fp16":
        if device.type != "cuda":
            raise ConfigError(f"amp='fp16' needs a CUDA device (loss scaling); use amp='bf16' on {device}")
        return torch.float16
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"amp='bf16' is not supported by {torch.cuda.get_device_name(device)}; use 'fp16'")
    if device.type not in ("cuda", "cpu"):
        raise ConfigError(f"amp='bf16' is supported on CPU and CUDA, not on {device.type}")
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """Mixed-precision autocast for the forward (a no-op for float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.amp.autocast(device_type=device.type, dtype=dtype)


def compile_module(module: nn.Module) -> nn.Module:
    """`torch.compile(module)`, refused clearly where this torch build has no compiler."""
    if not hasattr(torch, "compile"):
        raise ConfigError(f"runtime.compile=true needs torch.compile (torch {torch.__version__} lacks it)")
    return torch.compile(module)  # type: ignore[return-value]
