"""The recipe's optimizer, learning-rate schedule and gradient norm, built from the run config's sections."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def make_optimizer(params: list[nn.Parameter], cfg: dict[str, Any]) -> torch.optim.Optimizer:
    if cfg["name"] == "adam":
        return torch.optim.Adam(
            params,
            lr=cfg["lr"],
            betas=tuple(cfg.get("betas", (0.9, 0.999))),
            eps=cfg.get("eps", 1e-8),
            weight_decay=cfg.get("weight_decay", 0.0),
        )
    return torch.optim.SGD(
        params, lr=cfg["lr"], momentum=cfg.get("momentum", 0.9), weight_decay=cfg.get("weight_decay", 0.0)
    )


def make_scheduler(opt: torch.optim.Optimizer, cfg: dict[str, Any]) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per iteration; `step` halves (gamma) every `step_iters`, `multistep` at `milestones`."""
    if cfg["name"] == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=int(cfg["step_iters"]), gamma=cfg["gamma"])
    if cfg["name"] == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(
            opt, milestones=[int(m) for m in cfg["milestones"]], gamma=cfg["gamma"]
        )
    return torch.optim.lr_scheduler.StepLR(opt, step_size=2**62, gamma=1.0)


def grad_norm(params: list[nn.Parameter], clip: float | None) -> torch.Tensor:
    """The total gradient norm (clipped to `clip` in place when set), checked for NaN/Inf every step."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if clip is not None:
        return nn.utils.clip_grad_norm_(params, clip)
    return nn.utils.get_total_norm(grads)
