"""The training log: one JSON record per line in `log.jsonl` (rank 0 appends), mirrored to `log.csv`.

Records are `{"iteration", "kind": "train", "loss", "lr", "samples_per_s", "elapsed_s"}` every
`runtime.log_every` iterations and `{"iteration", "kind": "val", "val_psnr", "val_ssim", "val_set",
"elapsed_s"}` at each validation. Figures of them are drawn by the reports layer
(`srlib.reports.plots.training_curves`), not here.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from srlib.core import atomic

CSV_COLUMNS = ("iteration", "kind", "loss", "lr", "val_psnr", "val_ssim", "samples_per_s", "elapsed_s")


class RunLog:
    """Append-only JSONL log; `truncate(after)` drops records past a resumed checkpoint, so a resumed run's
    log reads as if it had never stopped."""

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
        lines = [",".join(CSV_COLUMNS)]
        for r in self.records():
            lines.append(",".join("" if r.get(c) is None else str(r.get(c)) for c in CSV_COLUMNS))
        atomic.write_text(path, "\n".join(lines) + "\n")
