"""Checkpoints: atomic writes, the last K kept plus the best, all RNG states, exact resume.

A checkpoint (`ckpt_<iteration:08d>.pt`, and the best one as `best.pt`) is a dict of tensors, numbers,
strings, lists and dicts only, so it loads with `torch.load(..., weights_only=True)`:

    format, iteration, config_hash, config, model, optimizer, scheduler, scaler (or None), rng, sampler,
    best (metric name, value, iteration), world_size

`rng` holds the python, numpy, torch CPU and CUDA generator states (numpy's key array is stored as a tensor).
`sampler` holds what the data order depends on: the sampling seed, the global batch size and the next global
step -- the training sampler is index arithmetic over a dataset whose item i is a pure function of
(seed, i), so this also fixes what every DataLoader worker and every DDP rank reads next. Writes go to a
temporary file that is renamed over the target (srlib.core.atomic), so a SIGKILL never leaves a half-written
checkpoint.
"""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srlib.core.atomic import write_torch

FORMAT = "srlib-checkpoint/1"
_NAME = re.compile(r"^ckpt_(\d{8})\.pt$")


def ckpt_name(iteration: int) -> str:
    return f"ckpt_{iteration:08d}.pt"


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _tuplify(obj: Any) -> Any:
    return tuple(_tuplify(x) for x in obj) if isinstance(obj, (list, tuple)) else obj


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuplify(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Write `payload` atomically to `path` (temp file + fsync + rename)."""
    payload = {"format": FORMAT, **payload}
    write_torch(path, payload)
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an srlib training checkpoint (format {FORMAT})")
    return ckpt


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of the periodic checkpoints in `ckpt_dir`, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(ckpt_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The newest checkpoint that loads; an unreadable one is reported and the previous one is tried."""
    for iteration, path in reversed(list_checkpoints(ckpt_dir)):
        try:
            ckpt = load_checkpoint(path, map_location)
        except Exception as exc:  # a damaged file (e.g. disk full) must not block resuming from an older one
            warnings.warn(f"skipping unreadable checkpoint {path} ({exc})", stacklevel=2)
            continue
        ckpt["path"] = str(path)
        if ckpt["iteration"] != iteration:
            warnings.warn(f"{path} holds iteration {ckpt['iteration']}, not {iteration}", stacklevel=2)
        return ckpt
    return None


def prune_checkpoints(ckpt_dir: Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` periodic checkpoints (`best.pt` is a separate file)."""
    for _, path in list_checkpoints(ckpt_dir)[:-keep_last]:
        path.unlink(missing_ok=True)
