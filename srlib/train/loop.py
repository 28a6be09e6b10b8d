"""The training loop: one model, one scale, one profile -> weights + model card + log + curve.

`train(model, scale, profile, overrides, out_dir, resume)` is the whole engine; the CLI (`srlib train`,
`python -m srlib.train`, `torchrun ... -m srlib.train`) and the notebooks call it. Layout of `out_dir`:

    config.json            the resolved run config and its hash (a resumed run must match it)
    checkpoints/           ckpt_<iteration>.pt (the last `runtime.keep_last`) and best.pt (best validation)
    log.jsonl, log.csv     loss / lr / throughput every `runtime.log_every` iterations, validation PSNR/SSIM
    curve.png              the training curve (loss, lr, validation PSNR)
    <model>_x<scale>.pt    exported weights (state dict) and <model>_x<scale>.json, the model card
    summary.json           what `train` returns, as JSON

Exactness: every sample is a pure function of (seed, index) and step t of a global batch B reads indices
t*B .. t*B+B-1, so the data order is fixed by the step number alone; a checkpoint stores model, optimizer,
scheduler, grad scaler, all RNG states and the step; resuming therefore gives the same weights as an
uninterrupted run (bitwise on CPU, where the kernels are deterministic for a fixed thread count).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srlib.core import atomic
from srlib.core.provenance import commit_label
from srlib.evaluation import Validator
from srlib.train import checkpoint as ck
from srlib.train import distributed as dd
from srlib.train.config import (
    ConfigError,
    config_diff,
    config_hash,
    hashed_part,
    resolve_config,
)
from srlib.train.losses import TrainingForward, pixel_loss, total_loss

PLOT_INTERVAL_S = 120.0


class TrainingDiverged(RuntimeError):
    """Loss or gradients became NaN/Inf; the message names the iteration and the last good checkpoint."""


@dataclass
class TrainSummary:
    """What a finished run produced (also written to `<out_dir>/summary.json`)."""

    model: str
    scale: int
    profile: str
    out_dir: str
    weights: str
    card: str
    log: str
    log_csv: str
    plot: str | None
    config_hash: str
    iterations: int
    global_batch_size: int
    world_size: int
    device: str
    final_metrics: dict[str, Any]
    wall_s: float
    resumed_from: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_out_dir(model: str, scale: int, profile: str) -> Path:
    """`<checkout>/runs/<profile>/<model>_x<scale>` (or under ~/.cache/srlib/runs for a plain install)."""
    from srlib.core.paths import repo_root

    root = repo_root()
    base = root / "runs" if root is not None else Path.home() / ".cache" / "srlib" / "runs"
    return base / profile / f"{model}_x{scale}"


def resolve_device(name: str, info: dd.DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("runtime.device asks for CUDA but torch.cuda.is_available() is False")
        return torch.device("cuda", info.local_rank if info.enabled else (torch.device(name).index or 0))
    return torch.device(name)


class StepBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yields this rank's dataset indices for global steps start..stop-1 (index arithmetic, no state)."""

    def __init__(self, start: int, stop: int, global_batch: int, offset: int, size: int):
        self.start, self.stop, self.global_batch, self.offset, self.size = (
            start,
            stop,
            global_batch,
            offset,
            size,
        )

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            base = step * self.global_batch + self.offset
            yield list(range(base, base + self.size))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _make_optimizer(params: list[nn.Parameter], cfg: dict[str, Any]) -> torch.optim.Optimizer:
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


def _make_scheduler(opt: torch.optim.Optimizer, cfg: dict[str, Any]) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per iteration; `step` halves (gamma) every `step_iters`, `multistep` at `milestones`."""
    if cfg["name"] == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=int(cfg["step_iters"]), gamma=cfg["gamma"])
    if cfg["name"] == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(
            opt, milestones=[int(m) for m in cfg["milestones"]], gamma=cfg["gamma"]
        )
    return torch.optim.lr_scheduler.StepLR(opt, step_size=2**62, gamma=1.0)


def _grad_norm(params: list[nn.Parameter], clip: float | None) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if clip is not None:
        return nn.utils.clip_grad_norm_(params, clip)
    return nn.utils.get_total_norm(grads)


# --------------------------------------------------------------------------------------------- the log


class RunLog:
    """Append-only JSONL log (rank 0); `truncate(after)` drops records past a resumed checkpoint."""

    def __init__(self, path: Path):
        self.path = path

    def records(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut by a kill is dropped
                out.append(json.loads(line))
        return out

    def truncate(self, after: int) -> None:
        keep = [r for r in self.records() if r["iteration"] <= after]
        atomic.write_text(self.path, "".join(json.dumps(r) + "\n" for r in keep))

    def append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    def write_csv(self, path: Path) -> None:
        cols = ["iteration", "kind", "loss", "lr", "val_psnr", "val_ssim", "samples_per_s", "elapsed_s"]
        lines = [",".join(cols)]
        for r in self.records():
            lines.append(",".join("" if r.get(c) is None else str(r.get(c)) for c in cols))
        atomic.write_text(path, "\n".join(lines) + "\n")


def plot_curve(records: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """Loss (log scale) and learning rate against iterations, validation PSNR below (matplotlib Agg)."""
    train = [r for r in records if r["kind"] == "train"]
    val = [r for r in records if r["kind"] == "val"]
    if not train and not val:
        return None
    from matplotlib.figure import Figure  # no pyplot: renders with Agg, leaves a notebook's backend alone

    fig = Figure(figsize=(7, 5.5))
    fig.subplots_adjust(left=0.14, right=0.86, top=0.93, bottom=0.09, hspace=0.08)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    if train:
        its = [r["iteration"] for r in train]
        ax1.plot(its, [r["loss"] for r in train], color="tab:blue", lw=1, label="training loss")
        if all(r["loss"] > 0 for r in train):
            ax1.set_yscale("log")
        ax1.set_ylabel("loss")
        axr = ax1.twinx()
        axr.plot(its, [r["lr"] for r in train], color="tab:gray", lw=1, ls="--", label="learning rate")
        axr.set_ylabel("learning rate")
        axr.set_yscale("log")
    ax1.set_title(title)
    if val:
        ax2.plot([r["iteration"] for r in val], [r["val_psnr"] for r in val], "o-", color="tab:red", ms=3)
        ax2.set_ylabel(f"PSNR (Y) on {val[-1].get('val_set', 'val')} [dB]")
    ax2.set_xlabel("iteration")
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


# --------------------------------------------------------------------------------------------- validation


def _ensure_train_sets(sets: list[str], data_dir: Path | None) -> None:
    if any(s.lower() == "demo" for s in sets):
        from srlib.data import demo

        demo.materialize(data_dir)


# --------------------------------------------------------------------------------------------- train


def _check_existing(out_dir: Path, config: dict[str, Any], chash: str, resume: bool) -> dict[str, Any] | None:
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
    if cfg_path.is_file():
        stored = json.loads(cfg_path.read_text(encoding="utf-8"))
        if stored["config_hash"] != chash:
            diff = config_diff(hashed_part(stored["config"]), hashed_part(config))
            raise ConfigError(
                f"refusing to resume {out_dir}: its config (hash {stored['config_hash']}) differs from the "
                f"requested one (hash {chash}):\n  "
                + "\n  ".join(diff)
                + "\nResume with the same profile and overrides, or train into a new directory."
            )
    summary_path = out_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get("config_hash") == chash and Path(summary["weights"]).is_file():
            return summary
    return None


def train(
    model: str,
    scale: int,
    profile: str | Path | dict[str, Any] = "smoke",
    overrides: dict[str, Any] | list[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    step_hook: Callable[[int, nn.Module], None] | None = None,
) -> TrainSummary:
    """Train `model` at `scale` with a profile (smoke / quick / paper or a JSON path) and dotted overrides.

    `resume=True` continues from the newest checkpoint in `out_dir` (refused if the config differs; a run
    that already finished returns its summary without training; an empty `out_dir` starts afresh).
    `step_hook(iteration, model)` is called after each backward pass (before the finiteness check) -- for
    notebooks and tests. Under `torchrun` every rank calls this; rank 0 writes all files.
    Returns a `TrainSummary` (paths of weights, card, log, plot; final validation metrics).
    """
    config = resolve_config(model, scale, profile, overrides)
    chash = config_hash(config)
    rt = config["runtime"]
    out = Path(out_dir) if out_dir is not None else default_out_dir(config["model"], scale, config["profile"])
    data_path = Path(data_dir) if data_dir is not None else None
    show = rt.get("progress", True) if progress is None else progress

    info = dd.env_info()
    device = resolve_device(rt.get("device", "auto"), info)
    info = dd.init(device.type)
    try:
        done = _check_existing(out, config, chash, resume)
        if done is not None:
            return TrainSummary(**done)
        dd.barrier(info)  # every rank has checked the folder before rank 0 writes into it
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            atomic.write_text(
                out / "config.json",
                json.dumps({"config_hash": chash, "config": config}, indent=2) + "\n",
            )
        dd.barrier(info)
        return _run(
            config, chash, out, data_path, bool(show and info.is_main), info, device, resume, step_hook
        )
    finally:
        dd.shutdown(info)


def _run(
    config: dict[str, Any],
    chash: str,
    out: Path,
    data_dir: Path | None,
    show: bool,
    info: dd.DistInfo,
    device: torch.device,
    resume: bool,
    step_hook: Callable[[int, nn.Module], None] | None,
) -> TrainSummary:
    rt = config["runtime"]
    threads = torch.get_num_threads()
    if rt.get("threads"):
        torch.set_num_threads(int(rt["threads"]))
    try:
        return _run_inner(config, chash, out, data_dir, show, info, device, resume, step_hook)
    finally:
        torch.set_num_threads(threads)  # a notebook / test process gets its setting back


def _run_inner(
    config: dict[str, Any],
    chash: str,
    out: Path,
    data_dir: Path | None,
    show: bool,
    info: dd.DistInfo,
    device: torch.device,
    resume: bool,
    step_hook: Callable[[int, nn.Module], None] | None,
) -> TrainSummary:
    from srlib.data.dataset import PatchDataset
    from srlib.data.patches import build_cache
    from srlib.models import build_model

    t_start = time.perf_counter()
    rt = config["runtime"]
    name, scale = config["model"], config["scale"]
    ckpt_dir = out / "checkpoints"
    log = RunLog(out / "log.jsonl")

    # Model: seeded construction, identical on every rank.
    _seed_everything(config["seed"])
    net = build_model(name, scale, **config["model_options"])
    if info.enabled and device.type == "cuda":  # BN (MemNet) statistics over the global batch
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    net = net.to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise ConfigError(f"model {name!r} has no trainable parameters (nothing to train)")

    # Data: an HDF5 cache built once per (sets, scale), items a pure function of (seed, index).
    data_cfg = config["data"]
    B = config["batch_size"]
    offset, per_rank = dd.shard(B, info)
    iterations = config["iterations"]
    sets = list(data_cfg["train_sets"])
    if info.is_main:
        _ensure_train_sets(sets, data_dir)
        cache = build_cache(sets, scale, data_dir=data_dir, progress=show)
    dd.barrier(info)
    if not info.is_main:
        _ensure_train_sets(sets, data_dir)
        cache = build_cache(sets, scale, data_dir=data_dir, progress=False)
    dataset = PatchDataset(
        cache,
        lr_patch=config["hr_patch"] // scale,
        length=iterations * B,
        seed=config["seed"],
        augment=data_cfg.get("augment", True),
        in_channels=getattr(net, "in_channels", 3),
        sampling=data_cfg.get("sampling", "uniform"),
    )

    opt = _make_optimizer(params, config["optimizer"])
    sched = _make_scheduler(opt, config["schedule"])
    amp = config["amp"] if device.type == "cuda" else None
    if config["amp"] and device.type != "cuda":
        warnings.warn(
            f"amp={config['amp']!r} is only used on CUDA; training in float32 on {device}", stacklevel=2
        )
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None

    start, best, elapsed_before, resumed_from = 0, None, 0.0, None
    window_loss, window_n = 0.0, 0
    if resume:
        state = ck.latest_checkpoint(ckpt_dir, map_location="cpu")
        if state is not None:
            if state["config_hash"] != chash:
                raise ConfigError(
                    f"checkpoint {state['path']} was written with config {state['config_hash']}, "
                    f"not {chash}; refusing to resume"
                )
            if state["sampler"]["global_batch"] != B:
                raise ConfigError("checkpoint global batch size differs from the config's batch_size")
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            ck.set_rng_state(state["rng"])
            start = resumed_from = int(state["iteration"])
            best = state.get("best")
            elapsed_before = float(state.get("elapsed_s", 0.0))
            window_loss, window_n = float(state["log_window"][0]), int(state["log_window"][1])
            if info.is_main:
                log.truncate(start)
                best_path = ckpt_dir / "best.pt"
                if best_path.is_file() and (
                    best is None or ck.load_checkpoint(best_path)["iteration"] > start
                ):
                    best_path.unlink()  # from the part of the interrupted run that is redone now
    if info.is_main and start == 0:
        log.path.unlink(missing_ok=True)
        for _, p in ck.list_checkpoints(ckpt_dir):
            p.unlink()
        (ckpt_dir / "best.pt").unlink(missing_ok=True)
    dd.barrier(info)

    fwd: nn.Module = TrainingForward(net, config["loss"].get("multi_output", False))
    if info.enabled:
        fwd = nn.parallel.DistributedDataParallel(
            fwd, device_ids=[device.index] if device.type == "cuda" else None
        )
    loss_fn = pixel_loss(config["loss"])

    validator = None
    val_cfg = config["validation"]
    if info.is_main and val_cfg.get("set"):
        validator = Validator(val_cfg["set"], scale, data_dir, val_cfg.get("max_images"))

    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=StepBatchSampler(start, iterations, B, offset, per_rank),
        num_workers=int(rt.get("num_workers", 0)),
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(config["seed"]),  # never touch the global torch RNG
        persistent_workers=False,
    )

    def payload(iteration: int, elapsed: float) -> dict[str, Any]:
        return {
            "iteration": iteration,
            "config_hash": chash,
            "config": json.dumps(config),
            "model": net.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": ck.rng_state(),
            "sampler": {"seed": config["seed"], "global_batch": B, "next_step": iteration},
            "best": best,
            "world_size": info.world_size,
            "elapsed_s": elapsed,
            "log_window": [window_loss, window_n],  # the running mean the next log line continues
        }

    def validate(iteration: int, elapsed: float) -> None:
        """Validation PSNR into the log; a new best is saved at once as checkpoints/best.pt."""
        nonlocal best
        if validator is None:
            return
        metrics = validator(net, device)
        log.append(
            {
                "iteration": iteration,
                "kind": "val",
                "val_psnr": metrics["psnr"],
                "val_ssim": metrics["ssim"],
                "val_set": metrics["set"],
                "elapsed_s": elapsed,
            }
        )
        if best is None or metrics["psnr"] > best["value"]:
            best = {"metric": "val_psnr", "value": metrics["psnr"], "iteration": iteration}
            ck.save_checkpoint(ckpt_dir / "best.pt", payload(iteration, elapsed))

    from tqdm.auto import tqdm

    bar = tqdm(
        total=iterations,
        initial=start,
        desc=f"{name} x{scale} [{config['profile']}]",
        disable=not show,
        dynamic_ncols=True,
        mininterval=1.0,
        unit="it",
    )
    net.train()
    last_good = str(ckpt_dir / ck.ckpt_name(start)) if start else None
    t_window = t_plot = time.perf_counter()
    iteration = start
    t_run = time.perf_counter()
    try:
        for step, (lr_img, hr_img) in zip(range(start, iterations), loader, strict=True):
            iteration = step + 1
            lr_img = lr_img.to(device, non_blocking=True)
            hr_img = hr_img.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
            with ctx:
                outputs = fwd(lr_img)
            loss = total_loss(outputs, hr_img, loss_fn, scale)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
            else:
                loss.backward()
            if step_hook is not None:
                step_hook(iteration, net)
            gnorm = _grad_norm(params, config["grad_clip"])
            loss_value = dd.mean_scalar(loss, info)
            bad_grad = not math.isfinite(float(gnorm)) and scaler is None
            if not math.isfinite(loss_value) or bad_grad:
                what = (
                    f"loss is {loss_value}"
                    if not math.isfinite(loss_value)
                    else f"gradient norm is {float(gnorm)}"
                )
                keep = (
                    f"the last good checkpoint is {last_good}"
                    if last_good
                    else "no checkpoint was written yet"
                )
                raise TrainingDiverged(
                    f"training of {name} x{scale} diverged at iteration {iteration}: {what}; {keep} "
                    f"(left intact). Lower optimizer.lr or set grad_clip, then resume or restart."
                )
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            sched.step()
            window_loss += loss_value
            window_n += 1
            bar.update(1)
            if iteration % rt["log_every"] == 0 or iteration == iterations:
                now = time.perf_counter()
                rate = (iteration - max(start, iteration - window_n)) * B / max(now - t_window, 1e-9)
                lr_now = opt.param_groups[0]["lr"]
                bar.set_postfix(loss=f"{window_loss / window_n:.4g}", lr=f"{lr_now:.2e}", refresh=False)
                if info.is_main:
                    log.append(
                        {
                            "iteration": iteration,
                            "kind": "train",
                            "loss": window_loss / window_n,
                            "lr": lr_now,
                            "samples_per_s": rate,
                            "elapsed_s": elapsed_before + now - t_run,
                        }
                    )
                window_loss, window_n, t_window = 0.0, 0, now
            final = iteration == iterations
            at_ckpt = iteration % rt["ckpt_every"] == 0 or final
            if info.is_main:
                elapsed = elapsed_before + time.perf_counter() - t_run
                if (rt["val_every"] and iteration % rt["val_every"] == 0) or final:
                    validate(iteration, elapsed)
                if at_ckpt:
                    path = ck.save_checkpoint(ckpt_dir / ck.ckpt_name(iteration), payload(iteration, elapsed))
                    ck.prune_checkpoints(ckpt_dir, rt["keep_last"])
                    last_good = str(path)
                    log.write_csv(out / "log.csv")
                    if (
                        time.perf_counter() - t_plot > PLOT_INTERVAL_S
                    ):  # drawing costs ~1 s; the end always plots
                        plot_curve(log.records(), out / "curve.png", f"{name} x{scale} ({config['profile']})")
                        t_plot = time.perf_counter()
            if at_ckpt:
                dd.barrier(info)
    finally:
        bar.close()

    wall = elapsed_before + time.perf_counter() - t_run
    summary = None
    if info.is_main:
        summary = _export(
            config,
            chash,
            out,
            net,
            ckpt_dir,
            best,
            validator,
            device,
            data_dir,
            info,
            wall,
            resumed_from,
            time.perf_counter() - t_start,
        )
    dd.barrier(info)
    if summary is None:  # other ranks read what rank 0 wrote
        summary = TrainSummary(**json.loads((out / "summary.json").read_text(encoding="utf-8")))
    return summary


def _export(
    config: dict[str, Any],
    chash: str,
    out: Path,
    net: nn.Module,
    ckpt_dir: Path,
    best: dict[str, Any] | None,
    validator: Validator | None,
    device: torch.device,
    data_dir: Path | None,
    info: dd.DistInfo,
    wall: float,
    resumed_from: int | None,
    session_s: float,
) -> TrainSummary:
    from srlib.weights import save_weights, training_data_hashes

    name, scale = config["model"], config["scale"]
    exported = "last"
    if config["export"] == "best" and (ckpt_dir / "best.pt").is_file():
        net.load_state_dict(ck.load_checkpoint(ckpt_dir / "best.pt")["model"])
        exported = f"best (iteration {best['iteration']})" if best else "best"
    metrics: dict[str, Any] = {}
    records = RunLog(out / "log.jsonl").records()
    vals = [r for r in records if r["kind"] == "val"]
    if validator is not None:
        if exported == "last" and vals and vals[-1]["iteration"] == config["iterations"]:
            metrics = {
                "val_set": vals[-1]["val_set"],
                "psnr": vals[-1]["val_psnr"],
                "ssim": vals[-1]["val_ssim"],
            }
        else:
            m = validator(net, device)
            metrics = {"val_set": m["set"], "psnr": m["psnr"], "ssim": m["ssim"]}
        metrics["images"] = len(validator.pairs)
    trains = [r for r in records if r["kind"] == "train"]
    if trains:
        metrics["final_loss"] = trains[-1]["loss"]
    weights_path = out / f"{name}_x{scale}.pt"
    card = {
        "model": name,
        "options": config["model_options"],
        "scale": scale,
        "in_channels": int(getattr(net, "in_channels", 3)),
        "profile": config["profile"],
        "config_hash": chash,
        "training": {
            "iterations": config["iterations"],
            "global_batch_size": config["batch_size"],
            "world_size": info.world_size,
            "hr_patch": config["hr_patch"],
            "optimizer": config["optimizer"],
            "schedule": config["schedule"],
            "loss": config["loss"],
            "seed": config["seed"],
            "amp": config["amp"] if device.type == "cuda" else None,
            "device": str(device),
            "exported": exported,
            "wall_s": round(wall, 1),
        },
        "training_data": training_data_hashes(config["data"]["train_sets"], data_dir),
        "git_commit": commit_label(),
        "final_metrics": metrics,
    }
    card_path = save_weights(net, weights_path, card)
    log = RunLog(out / "log.jsonl")
    log.write_csv(out / "log.csv")
    plot = plot_curve(log.records(), out / "curve.png", f"{name} x{scale} ({config['profile']})")
    summary = TrainSummary(
        model=name,
        scale=scale,
        profile=config["profile"],
        out_dir=str(out),
        weights=str(weights_path),
        card=str(card_path),
        log=str(out / "log.jsonl"),
        log_csv=str(out / "log.csv"),
        plot=str(plot) if plot else None,
        config_hash=chash,
        iterations=config["iterations"],
        global_batch_size=config["batch_size"],
        world_size=info.world_size,
        device=str(device),
        final_metrics=metrics,
        wall_s=round(wall, 2),
        resumed_from=resumed_from,
        config=config,
    )
    atomic.write_text(out / "summary.json", json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary
