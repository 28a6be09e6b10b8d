"""What a finished training run writes besides its weights: the model card and `summary.json`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srlib.core.provenance import commit_label

if TYPE_CHECKING:  # reading a summary needs no torch
    import torch

    from srlib.train.config import RunConfig


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

    def to_file(self) -> dict[str, Any]:
        """summary.json's content: the paths relative to the run folder (`weights: "mlrn_x2.pt"`), so a run
        folder copied or cloned elsewhere still counts as finished."""
        data = self.to_dict()
        base = Path(self.out_dir)
        for key in PATH_FIELDS:
            data[key] = _relative(Path(data[key]), base)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSummary:
        """From summary.json; keys this version no longer writes (an older run's `plot`) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> TrainSummary:
        """A summary.json with its paths resolved against the folder it is in. An older summary stores the
        absolute paths of the machine that wrote it; where those do not exist, the file of that name in the
        run folder is meant."""
        path = Path(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        base = path.parent
        for key in PATH_FIELDS:
            value = Path(str(data.get(key, "")))
            if key == "out_dir" or not value.is_absolute():
                data[key] = str(base if key == "out_dir" else base / value)
            elif not value.exists():
                data[key] = str(base / value.name)
        return cls.from_dict(data)


# The TrainSummary fields that are paths (stored relative to the run folder).
PATH_FIELDS: tuple[str, ...] = ("out_dir", "weights", "card", "log", "log_csv")


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def model_card(
    cfg: RunConfig,
    *,
    in_channels: int,
    world_size: int,
    device: torch.device,
    exported: str,
    metrics: dict[str, Any],
    wall: float,
    data_dir: Path | None,
) -> dict[str, Any]:
    """The card saved next to the weights (srlib.weights adds format, hashes and versions): the recipe,
    how it ran, which weights were exported, the training data's hashes and the final metrics."""
    from srlib.weights import training_data_hashes

    return {
        "model": cfg.model,
        "options": cfg.resolved["model_options"],
        "scale": cfg.scale,
        "in_channels": in_channels,
        "profile": cfg.profile,
        "config_hash": cfg.hash,
        "training": {
            "iterations": cfg.iterations,
            "global_batch_size": cfg.batch_size,
            "world_size": world_size,
            "hr_patch": cfg.hr_patch,
            "optimizer": cfg.resolved["optimizer"],
            "schedule": cfg.resolved["schedule"],
            "loss": cfg.resolved["loss"],
            "seed": cfg.seed,
            "amp": cfg.amp,
            "channels_last": cfg.runtime.channels_last,
            "compile": cfg.runtime.compile,
            "device": str(device),
            "exported": exported,
            "wall_s": round(wall, 1),
        },
        "training_data": training_data_hashes(list(cfg.data.train_sets), data_dir),
        "git_commit": commit_label(),
        "final_metrics": metrics,
    }
