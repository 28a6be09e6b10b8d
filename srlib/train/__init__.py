"""Training engine: profiles (data), the loop with exact resume, DDP under torchrun, weights + model card.

    from srlib.train import train
    summary = train("mlrn", 2, "quick", {"iterations": 500}, "runs/mlrn_x2", resume=True)
    summary.weights, summary.card, summary.log, summary.plot, summary.final_metrics

See docs/training.md for the profile schema and the command line (`srlib train`, `python -m srlib.train`,
`torchrun --nproc_per_node N -m srlib.train ...`).
"""

from __future__ import annotations

from typing import Any

from srlib.train.config import (
    PROFILE_NAMES,
    ConfigError,
    config_hash,
    eval_plan,
    load_profile,
    parse_overrides,
    resolve_config,
)

__all__ = [
    "PROFILE_NAMES",
    "ConfigError",
    "TrainSummary",
    "TrainingDiverged",
    "config_hash",
    "eval_plan",
    "load_profile",
    "parse_overrides",
    "resolve_config",
    "train",
]


def __getattr__(name: str) -> Any:  # the loop imports torch & co.; keep `import srlib.train` light
    if name in ("train", "TrainSummary", "TrainingDiverged"):
        from srlib.train import loop

        return getattr(loop, name)
    raise AttributeError(name)
