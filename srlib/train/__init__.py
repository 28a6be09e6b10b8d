"""Training engine: profiles (data), a `Trainer` with exact resume, DDP under torchrun, weights + model card.

    from srlib.train import train
    summary = train("mlrn", 2, "quick", {"iterations": 500}, "runs/mlrn_x2", resume=True)
    summary.weights, summary.card, summary.log, summary.final_metrics

Modules: `config` (profiles, the resolved run config and its typed view `RunConfig`), `run` (`train`, the
entry point), `trainer` (`Trainer`), `summary`, `checkpoint`, `distributed`, `sampler`, `optim`, `losses`,
`runlog` (log.jsonl / log.csv), `loop` (training-time validation). See docs/training.md for the profile
schema and the command line (`srlib train`; `torchrun --nproc_per_node N -m srlib.cli train ...`).
"""

from __future__ import annotations

from typing import Any

from srlib.train.config import (
    PROFILE_NAMES,
    ConfigError,
    RunConfig,
    config_hash,
    eval_plan,
    load_profile,
    parse_overrides,
    resolve_config,
)

__all__ = [
    "PROFILE_NAMES",
    "ConfigError",
    "RunConfig",
    "TrainSummary",
    "Trainer",
    "TrainingDiverged",
    "config_hash",
    "eval_plan",
    "load_profile",
    "parse_overrides",
    "resolve_config",
    "train",
]


_LAZY = {"train": "run", "Trainer": "trainer", "TrainingDiverged": "trainer", "TrainSummary": "summary"}


def __getattr__(name: str) -> Any:  # the trainer imports torch & co.; keep `import srlib.train` light
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"srlib.train.{_LAZY[name]}"), name)
    raise AttributeError(name)
