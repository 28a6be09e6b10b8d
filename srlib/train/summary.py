"""What a finished training run returns and writes as `<out_dir>/summary.json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSummary:
        """From summary.json; keys this version no longer writes (an older run's `plot`) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
