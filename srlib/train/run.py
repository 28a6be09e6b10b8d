"""`train(model, scale, profile, overrides, out_dir, resume)`: the entry point of the training engine.

The CLI (`srlib train`, also under `torchrun`) and the notebooks call it. It resolves the run config, picks
the device, joins the process group under torchrun, refuses to mix two runs in one `out_dir` (or returns a
finished identical run's summary), writes `config.json` and runs a `srlib.train.trainer.Trainer`. Where a
run lives is the caller's choice (the pipeline's run layout, or `--out`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from srlib.core import atomic
from srlib.core import device as core_device
from srlib.train import checkpoint as ck
from srlib.train import distributed as dd
from srlib.train.config import ConfigError, RunConfig, config_diff, hashed_part, resolve_config
from srlib.train.summary import TrainSummary
from srlib.train.trainer import StepHook, Trainer


def resolve_device(name: str, info: dd.DistInfo) -> torch.device:
    """core.device.resolve_device, except that under torchrun each process takes its local rank's GPU."""
    device = core_device.resolve_device(name)
    if device.type == "cuda" and info.enabled:
        return core_device.resolve_device(f"cuda:{info.local_rank}")
    return device


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Set torch's thread count for the run; a notebook / test process gets its setting back."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_existing(out_dir: Path, cfg: RunConfig, resume: bool) -> TrainSummary | None:
    """Refuse to mix runs: returns the stored summary of a finished identical run when resuming."""
    cfg_path = out_dir / "config.json"
    ckpts = ck.list_checkpoints(out_dir / "checkpoints")
    if not cfg_path.is_file() and not ckpts:
        return None
    if not resume:
        raise ConfigError(
            f"{out_dir} already holds a training run ({len(ckpts)} checkpoint(s)); pass resume=True "
            "(`--resume`) to continue it, or choose another output directory"
        )
    chash = cfg.hash
    if cfg_path.is_file():
        stored = json.loads(cfg_path.read_text(encoding="utf-8"))
        if stored["config_hash"] != chash:
            diff = config_diff(hashed_part(stored["config"]), hashed_part(cfg.resolved))
            raise ConfigError(
                f"refusing to resume {out_dir}: its config (hash {stored['config_hash']}) differs from the "
                f"requested one (hash {chash}):\n  "
                + "\n  ".join(diff)
                + "\nResume with the same profile and overrides, or train into a new directory."
            )
    summary_path = out_dir / "summary.json"
    if summary_path.is_file():
        summary = TrainSummary.read(summary_path)
        if summary.config_hash == chash and Path(summary.weights).is_file():
            return summary
    return None


def train(
    model: str,
    scale: int,
    profile: str | Path | dict[str, Any],
    overrides: dict[str, Any] | list[str] | None,
    out_dir: str | os.PathLike[str],
    resume: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    step_hook: StepHook | None = None,
) -> TrainSummary:
    """Train `model` at `scale` with a profile (smoke / quick / paper or a JSON path) and dotted overrides
    into `out_dir` (where a run lives is the caller's choice: the pipeline's run layout, or `--out`).

    `resume=True` continues from the newest checkpoint in `out_dir` (refused if the config differs; a run
    that already finished returns its summary without training; an empty `out_dir` starts afresh).
    `step_hook(iteration, model)` is called after each backward pass (before the finiteness check) -- for
    notebooks and tests. Under `torchrun` every rank calls this; rank 0 writes all files.
    """
    cfg = RunConfig.from_dict(resolve_config(model, scale, profile, overrides))
    out = Path(out_dir)
    show = cfg.runtime.progress if progress is None else progress
    info = dd.env_info()
    device = resolve_device(cfg.runtime.device, info)
    info = dd.init(device.type)
    try:
        done = _check_existing(out, cfg, resume)
        if done is not None:
            return done
        dd.barrier(info)  # every rank has checked the folder before rank 0 writes into it
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"config_hash": cfg.hash, "config": cfg.resolved}, indent=2) + "\n"
            atomic.write_text(out / "config.json", text)
        dd.barrier(info)
        trainer = Trainer(
            cfg,
            out,
            data_dir=Path(data_dir) if data_dir is not None else None,
            show=bool(show and info.is_main),
            info=info,
            device=device,
            step_hook=step_hook,
        )
        with _torch_threads(cfg.runtime.threads):
            return trainer.fit(resume)
    finally:
        dd.shutdown(info)
