"""The step-indexed batch sampler: the data order is a function of the step number alone.

Every dataset item is a pure function of (seed, index), and global step t of batch B reads indices
t*B .. t*B+B-1; rank r of W reads its contiguous share `t*B + r*B/W ...` (srlib.train.distributed.shard).
A sampler that starts at step k therefore continues a run exactly, with no sampler state to checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class StepBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yields this rank's dataset indices for global steps start..stop-1 (index arithmetic, no state)."""

    def __init__(self, start: int, stop: int, global_batch: int, offset: int, size: int):
        self.start, self.stop = start, stop
        self.global_batch, self.offset, self.size = global_batch, offset, size

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            base = step * self.global_batch + self.offset
            yield list(range(base, base + self.size))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
