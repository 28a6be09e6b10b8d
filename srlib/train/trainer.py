"""The Trainer: one run of one model at one scale -> weights + model card + log, resumable exactly.

Its methods are the phases of a run, in the manner of BasicSR's model methods: `build` (model, data,
optimizer), `resume` (or start afresh), `step` (one optimisation step), `validate`, `checkpoint`, `export`
(weights + model card + summary); `fit` runs them in order. `srlib.train.run.train` is the entry point that
resolves the config and the output folder. Layout of the output folder:

    config.json            the resolved run config and its hash (a resumed run must match it)
    checkpoints/           ckpt_<iteration>.pt (the last `runtime.keep_last`) and best.pt (best validation)
    log.jsonl, log.csv     loss / lr / throughput every `runtime.log_every` iterations, validation PSNR/SSIM
    <model>_x<scale>.pt    exported weights (state dict) and <model>_x<scale>.json, the model card
    summary.json           what `train` returns, as JSON

Exactness: every sample is a pure function of (seed, index) and step t of a global batch B reads indices
t*B .. t*B+B-1 (srlib.train.sampler), so the data order is fixed by the step number alone; a checkpoint
stores model, optimizer, scheduler, grad scaler, all RNG states and the step; resuming therefore gives the
same weights as an uninterrupted run (bitwise on CPU, where the kernels are deterministic for a fixed thread
count). The order of the build phases is part of that contract: it fixes what the seeded RNG produces.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srlib.core import atomic
from srlib.core.errors import SrlibError
from srlib.evaluation import Validator
from srlib.train import checkpoint as ck
from srlib.train import distributed as dd
from srlib.train import precision
from srlib.train.config import ConfigError, RunConfig
from srlib.train.losses import TrainingForward, pixel_loss, total_loss
from srlib.train.optim import grad_norm, make_optimizer, make_scheduler
from srlib.train.runlog import RunLog
from srlib.train.sampler import StepBatchSampler
from srlib.train.summary import TrainSummary, model_card

StepHook = Callable[[int, nn.Module], None]


class TrainingDiverged(SrlibError, RuntimeError):
    """Loss or gradients became NaN/Inf; the message names the iteration and the last good checkpoint."""


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _ensure_train_sets(sets: list[str], data_dir: Path | None) -> None:
    if any(s.lower() == "demo" for s in sets):
        from srlib.data import demo

        demo.materialize(data_dir)


class Trainer:
    """One training run of `cfg` into `out_dir` on this rank (rank 0 writes every file).

    Call `fit()`, or the phases in its order: `build()`, `resume(resume)`, then `step` per iteration with
    `after_step` (logging, `validate`, `checkpoint`), and `export` at the end.
    """

    # set by build(): the model (unwrapped), its trainable parameters, this rank's data, the optimisation
    net: nn.Module
    params: list[nn.Parameter]
    shard: tuple[int, int]
    dataset: torch.utils.data.Dataset
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    amp_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None
    # set by fit() before the first step: the (DDP-wrapped) forward and the pixel loss
    fwd: nn.Module
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def __init__(
        self,
        cfg: RunConfig,
        out_dir: Path,
        *,
        data_dir: Path | None = None,
        show: bool = False,
        info: dd.DistInfo | None = None,
        device: torch.device | None = None,
        step_hook: StepHook | None = None,
    ):
        self.cfg, self.out, self.data_dir, self.show = cfg, out_dir, data_dir, show
        self.info = info or dd.DistInfo()
        self.device = device or torch.device("cpu")
        self.step_hook = step_hook
        self.ckpt_dir = out_dir / "checkpoints"
        self.log = RunLog(out_dir / "log.jsonl")
        self.validator: Validator | None = None
        self.start, self.resumed_from, self.elapsed_before = 0, None, 0.0
        self.best: dict[str, Any] | None = None
        self.window_loss, self.window_n = 0.0, 0  # the running mean of the next train log record
        self.last_good: str | None = None
        self.t_run = self.t_window = time.perf_counter()

    # ------------------------------------------------------------------------------------------ build

    def build(self) -> None:
        """Model, data and optimizer, in this order (the seeded RNG stream depends on it); a precision mode
        the device cannot run is refused first."""
        self.amp_dtype = precision.amp_dtype(self.cfg.amp, self.device)
        self._build_model()
        self._build_data()
        self._build_optimizer()

    def _build_model(self) -> None:
        """Seeded construction, identical on every rank."""
        from srlib.models import build_model

        cfg = self.cfg
        _seed_everything(cfg.seed)
        net = build_model(cfg.model, cfg.scale, **cfg.model_options)
        if self.info.enabled and self.device.type == "cuda":  # BN (MemNet) statistics over the global batch
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        self.net = net.to(self.device)
        if cfg.runtime.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        if not self.params:
            raise ConfigError(f"model {cfg.model!r} has no trainable parameters (nothing to train)")

    def _build_data(self) -> None:
        """An HDF5 cache built once per (sets, scale), rank 0 first; item i a pure function of (seed, i)."""
        from srlib.data.dataset import PatchDataset
        from srlib.data.patches import build_cache

        cfg, info = self.cfg, self.info
        self.shard = dd.shard(cfg.batch_size, info)  # (offset, size) of this rank's share; refused early
        sets = list(cfg.data.train_sets)
        if info.is_main:
            _ensure_train_sets(sets, self.data_dir)
            cache = build_cache(sets, cfg.scale, data_dir=self.data_dir, progress=self.show)
        dd.barrier(info)
        if not info.is_main:
            _ensure_train_sets(sets, self.data_dir)
            cache = build_cache(sets, cfg.scale, data_dir=self.data_dir, progress=False)
        self.dataset = PatchDataset(
            cache,
            lr_patch=cfg.hr_patch // cfg.scale,
            length=cfg.iterations * cfg.batch_size,
            seed=cfg.seed,
            augment=cfg.data.augment,
            in_channels=getattr(self.net, "in_channels", 3),
            sampling=cfg.data.sampling,
        )

    def _build_optimizer(self) -> None:
        cfg = self.cfg
        self.opt = make_optimizer(self.params, cfg.optimizer)
        self.sched = make_scheduler(self.opt, cfg.schedule)
        self.scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" else None

    # ------------------------------------------------------------------------------------------ resume

    def resume(self, resume: bool) -> None:
        """Continue from the newest checkpoint (when `resume` and one exists), else clear a stale start."""
        state = ck.latest_checkpoint(self.ckpt_dir, map_location="cpu") if resume else None
        if state is not None:
            self._load_state(state)
            if self.info.is_main:
                self._drop_redone_part()
        if self.info.is_main and self.start == 0:
            self.log.path.unlink(missing_ok=True)
            for _, p in ck.list_checkpoints(self.ckpt_dir):
                p.unlink()
            (self.ckpt_dir / "best.pt").unlink(missing_ok=True)
        dd.barrier(self.info)
        self.last_good = str(self.ckpt_dir / ck.ckpt_name(self.start)) if self.start else None

    def _load_state(self, state: dict[str, Any]) -> None:
        chash = self.cfg.hash
        if state["config_hash"] != chash:
            raise ConfigError(
                f"checkpoint {state['path']} was written with config {state['config_hash']}, "
                f"not {chash}; refusing to resume"
            )
        if state["sampler"]["global_batch"] != self.cfg.batch_size:
            raise ConfigError("checkpoint global batch size differs from the config's batch_size")
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        ck.set_rng_state(state["rng"])
        self.start = self.resumed_from = int(state["iteration"])
        self.best = state.get("best")
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.window_loss, self.window_n = float(state["log_window"][0]), int(state["log_window"][1])

    def _drop_redone_part(self) -> None:
        """Log records and a best.pt from the part of the interrupted run that is redone now."""
        self.log.truncate(self.start)
        best_path = self.ckpt_dir / "best.pt"
        if best_path.is_file() and (
            self.best is None or ck.load_checkpoint(best_path)["iteration"] > self.start
        ):
            best_path.unlink()

    # ------------------------------------------------------------------------------------------ loop

    def fit(self, resume: bool = False) -> TrainSummary:
        """Build, resume, train to `iterations`, export; every rank returns rank 0's summary."""
        from srlib.core.progress import tqdm

        self.build()
        self.resume(resume)
        self._prepare_step()
        cfg = self.cfg
        bar = tqdm(
            total=cfg.iterations,
            initial=self.start,
            desc=f"{cfg.model} x{cfg.scale} [{cfg.profile}]",
            disable=not self.show,
            dynamic_ncols=True,
            mininterval=1.0,
            unit="it",
        )
        self.net.train()
        self.t_window = self.t_run = time.perf_counter()
        try:
            for step, (lr_img, hr_img) in zip(range(self.start, cfg.iterations), self._loader(), strict=True):
                self.step(step + 1, lr_img, hr_img)
                bar.update(1)
                self.after_step(step + 1, bar)
        finally:
            bar.close()
        summary = self.export(self._elapsed()) if self.info.is_main else None
        dd.barrier(self.info)
        if summary is None:  # other ranks read what rank 0 wrote
            summary = TrainSummary.read(self.out / "summary.json")
        return summary

    def _prepare_step(self) -> None:
        """The (DDP-wrapped) training forward, the loss, and rank 0's validator."""
        fwd: nn.Module = TrainingForward(self.net, self.cfg.multi_output)
        if self.info.enabled:
            fwd = nn.parallel.DistributedDataParallel(
                fwd, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if self.cfg.runtime.compile:
            fwd = precision.compile_module(fwd)
        self.fwd = fwd
        self.loss_fn = pixel_loss(self.cfg.loss)
        val = self.cfg.validation
        if self.info.is_main and val.set:
            self.validator = Validator(val.set, self.cfg.scale, self.data_dir, val.max_images)

    def _loader(self) -> torch.utils.data.DataLoader:
        cfg = self.cfg
        offset, per_rank = self.shard
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_sampler=StepBatchSampler(self.start, cfg.iterations, cfg.batch_size, offset, per_rank),
            num_workers=int(cfg.runtime.num_workers),
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(cfg.seed),  # never touch the global torch RNG
            persistent_workers=False,
        )

    def _elapsed(self) -> float:
        """Training seconds over all sessions of this run."""
        return self.elapsed_before + time.perf_counter() - self.t_run

    def step(self, iteration: int, lr_img: torch.Tensor, hr_img: torch.Tensor) -> float:
        """One optimisation step on this rank's share of a global batch; returns the global mean loss."""
        lr_img = lr_img.to(self.device, non_blocking=True)
        hr_img = hr_img.to(self.device, non_blocking=True)
        if self.cfg.runtime.channels_last:
            lr_img = lr_img.contiguous(memory_format=torch.channels_last)
        self.opt.zero_grad(set_to_none=True)
        with precision.autocast(self.device, self.amp_dtype):
            outputs = self.fwd(lr_img)
        loss = total_loss(outputs, hr_img, self.loss_fn, self.cfg.scale)  # float32, outside autocast
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
        else:
            loss.backward()
        if self.step_hook is not None:
            self.step_hook(iteration, self.net)
        gnorm = grad_norm(self.params, self.cfg.grad_clip)
        loss_value = dd.mean_scalar(loss, self.info)
        self._check_finite(iteration, loss_value, float(gnorm))
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.sched.step()
        self.window_loss += loss_value
        self.window_n += 1
        return loss_value

    def _check_finite(self, iteration: int, loss_value: float, gnorm: float) -> None:
        """Stop before a NaN/Inf update (an fp16 scaler skips bad-gradient steps itself)."""
        bad_grad = not math.isfinite(gnorm) and self.scaler is None
        if math.isfinite(loss_value) and not bad_grad:
            return
        what = f"loss is {loss_value}" if not math.isfinite(loss_value) else f"gradient norm is {gnorm}"
        keep = (
            f"the last good checkpoint is {self.last_good}"
            if self.last_good
            else "no checkpoint was written yet"
        )
        raise TrainingDiverged(
            f"training of {self.cfg.model} x{self.cfg.scale} diverged at iteration {iteration}: {what}; "
            f"{keep} (left intact). Lower optimizer.lr or set grad_clip, then resume or restart."
        )

    def after_step(self, iteration: int, bar: Any) -> None:
        """The cadence of a step's side effects: log, validate (rank 0), checkpoint (rank 0, then barrier)."""
        rt = self.cfg.runtime
        final = iteration == self.cfg.iterations
        if iteration % rt.log_every == 0 or final:
            self._log_train(iteration, bar)
        at_ckpt = iteration % rt.ckpt_every == 0 or final
        if self.info.is_main:
            elapsed = self._elapsed()
            if (rt.val_every and iteration % rt.val_every == 0) or final:
                self.validate(iteration, elapsed)
            if at_ckpt:
                self.checkpoint(iteration, elapsed)
        if at_ckpt:
            dd.barrier(self.info)

    def _log_train(self, iteration: int, bar: Any) -> None:
        now = time.perf_counter()
        steps = iteration - max(self.start, iteration - self.window_n)
        rate = steps * self.cfg.batch_size / max(now - self.t_window, 1e-9)
        lr_now = self.opt.param_groups[0]["lr"]
        mean = self.window_loss / self.window_n
        bar.set_postfix(loss=f"{mean:.4g}", lr=f"{lr_now:.2e}", refresh=False)
        if self.info.is_main:
            self.log.append(
                {
                    "iteration": iteration,
                    "kind": "train",
                    "loss": mean,
                    "lr": lr_now,
                    "samples_per_s": rate,
                    "elapsed_s": self.elapsed_before + now - self.t_run,
                }
            )
        self.window_loss, self.window_n, self.t_window = 0.0, 0, now

    # ------------------------------------------------------------------------------ validate, checkpoint

    def validate(self, iteration: int, elapsed: float) -> None:
        """Validation PSNR into the log; a new best is saved at once as checkpoints/best.pt."""
        if self.validator is None:
            return
        metrics = self.validator(self.net, self.device)
        self.log.append(
            {
                "iteration": iteration,
                "kind": "val",
                "val_psnr": metrics["psnr"],
                "val_ssim": metrics["ssim"],
                "val_set": metrics["set"],
                "elapsed_s": elapsed,
            }
        )
        if self.best is None or metrics["psnr"] > self.best["value"]:
            self.best = {"metric": "val_psnr", "value": metrics["psnr"], "iteration": iteration}
            ck.save_checkpoint(self.ckpt_dir / "best.pt", self._payload(iteration, elapsed))

    def checkpoint(self, iteration: int, elapsed: float) -> None:
        """A periodic checkpoint (the last `keep_last` are kept) and the CSV copy of the log."""
        path = ck.save_checkpoint(self.ckpt_dir / ck.ckpt_name(iteration), self._payload(iteration, elapsed))
        ck.prune_checkpoints(self.ckpt_dir, self.cfg.runtime.keep_last)
        self.last_good = str(path)
        self.log.write_csv(self.out / "log.csv")

    def _payload(self, iteration: int, elapsed: float) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "iteration": iteration,
            "config_hash": cfg.hash,
            "config": json.dumps(cfg.resolved),
            "model": self.net.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": ck.rng_state(),
            "sampler": {"seed": cfg.seed, "global_batch": cfg.batch_size, "next_step": iteration},
            "best": self.best,
            "world_size": self.info.world_size,
            "elapsed_s": elapsed,
            "log_window": [self.window_loss, self.window_n],  # the running mean the next log line continues
        }

    # ------------------------------------------------------------------------------------------ export

    def export(self, wall: float) -> TrainSummary:
        """Weights (last, or best.pt when `export: best`) + model card + summary.json (rank 0)."""
        from srlib.weights import save_weights

        exported = self._load_exported()
        metrics = self._final_metrics(exported)
        weights_path = self.out / f"{self.cfg.model}_x{self.cfg.scale}.pt"
        card = model_card(
            self.cfg,
            in_channels=int(getattr(self.net, "in_channels", 3)),
            world_size=self.info.world_size,
            device=self.device,
            exported=exported,
            metrics=metrics,
            wall=wall,
            data_dir=self.data_dir,
        )
        card_path = save_weights(self.net, weights_path, card)
        self.log.write_csv(self.out / "log.csv")
        summary = self._summary(weights_path, card_path, metrics, wall)
        atomic.write_text(self.out / "summary.json", json.dumps(summary.to_file(), indent=2) + "\n")
        return summary

    def _load_exported(self) -> str:
        """Load the weights to export into the model; returns what they are ("last" or "best ...")."""
        best_path = self.ckpt_dir / "best.pt"
        if self.cfg.export != "best" or not best_path.is_file():
            return "last"
        self.net.load_state_dict(ck.load_checkpoint(best_path)["model"])
        return f"best (iteration {self.best['iteration']})" if self.best else "best"

    def _final_metrics(self, exported: str) -> dict[str, Any]:
        """Validation of the exported weights (the last log record when it is of them) and the final loss."""
        metrics: dict[str, Any] = {}
        records = self.log.records()
        vals = [r for r in records if r["kind"] == "val"]
        if self.validator is not None:
            if exported == "last" and vals and vals[-1]["iteration"] == self.cfg.iterations:
                metrics = {
                    "val_set": vals[-1]["val_set"],
                    "psnr": vals[-1]["val_psnr"],
                    "ssim": vals[-1]["val_ssim"],
                }
            else:
                m = self.validator(self.net, self.device)
                metrics = {"val_set": m["set"], "psnr": m["psnr"], "ssim": m["ssim"]}
            metrics["images"] = len(self.validator.pairs)
        trains = [r for r in records if r["kind"] == "train"]
        if trains:
            metrics["final_loss"] = trains[-1]["loss"]
        return metrics

    def _summary(self, weights: Path, card: Path, metrics: dict[str, Any], wall: float) -> TrainSummary:
        cfg = self.cfg
        return TrainSummary(
            model=cfg.model,
            scale=cfg.scale,
            profile=cfg.profile,
            out_dir=str(self.out),
            weights=str(weights),
            card=str(card),
            log=str(self.log.path),
            log_csv=str(self.out / "log.csv"),
            config_hash=cfg.hash,
            iterations=cfg.iterations,
            global_batch_size=cfg.batch_size,
            world_size=self.info.world_size,
            device=str(self.device),
            final_metrics=metrics,
            wall_s=round(wall, 2),
            resumed_from=self.resumed_from,
            config=cfg.resolved,
        )
