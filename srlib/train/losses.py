"""Training losses: L1 (MLRN, the paper's Section 4.2), MSE (SRCNN, VDSR, MemNet as published), Charbonnier
(LapSRN as published), and multi-output supervision for models that expose intermediate outputs.

A model with published multi-output supervision (LapSRN's pyramid levels, MemNet's per-memory-block outputs)
exposes `training_outputs(lr) -> list[srlib.models.TrainingTerm(output, scale, weight)]`; the loss is
`sum(weight * loss(output, target))` where the target of an output at `scale` (relative to the LR input) is
the HR patch resized by `scale / model.scale` with MATLAB bicubic. `loss.multi_output` (a profile field)
switches this on; otherwise only `model(lr)` is supervised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """mean(sqrt((pred - target)^2 + eps^2)), the robust L1 of LapSRN (eps = 1e-3)."""
    return torch.sqrt((pred - target).square() + eps * eps).mean()


def pixel_loss(cfg: dict[str, Any]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    name = cfg["name"]
    if name == "l1":
        return F.l1_loss
    if name == "mse":
        return F.mse_loss
    if name == "charbonnier":
        eps = float(cfg.get("eps", 1e-3))
        return lambda p, t: charbonnier(p, t, eps)
    raise ValueError(f"unknown loss {name!r}")


def _target(hr: torch.Tensor, relative: float) -> torch.Tensor:
    """The HR patch itself, or resized by `relative` (< 1 for a coarser pyramid level) with MATLAB bicubic."""
    if abs(relative - 1.0) < 1e-9:
        return hr
    from srlib.core.imresize import imresize

    return imresize(hr, scale=relative)


class TrainingForward(nn.Module):
    """Wraps a model so that the (DDP-wrapped) forward returns what the loss needs: a list of
    `srlib.models.TrainingTerm(output, scale, weight)`. DDP must see this forward, so it wraps this module."""

    def __init__(self, model: nn.Module, multi_output: bool):
        super().__init__()
        self.model = model
        self.multi_output = bool(multi_output)

    def forward(self, lr: torch.Tensor) -> list[Any]:
        from srlib.models import TrainingTerm, training_outputs

        if self.multi_output:
            return training_outputs(self.model, lr)
        return [TrainingTerm(self.model(lr), float(self.model.scale), 1.0)]


def total_loss(
    terms: list[Any],
    hr: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    model_scale: int,
) -> torch.Tensor:
    """sum(weight * loss(output, target)) over the supervised outputs, computed in float32; the target of an
    output at `scale` is the HR patch resized by `scale / model_scale`."""
    total = None
    for output, scale, weight in terms:
        target = _target(hr, float(scale) / model_scale)
        if target.shape != output.shape:
            raise ValueError(
                f"a training output of shape {tuple(output.shape)} has a target of shape "
                f"{tuple(target.shape)}; the HR patch must be divisible by every level's factor"
            )
        term = float(weight) * loss_fn(output.float(), target.float())
        total = term if total is None else total + term
    if total is None:
        raise ValueError("the model returned no training outputs")
    return total
