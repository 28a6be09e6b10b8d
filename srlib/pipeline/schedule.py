"""Run dependent jobs concurrently, at most one per device: what `srlib replicate --devices` uses.

Why a scheduler of its own and not a plain thread pool: a step may start only when every step it depends on
has succeeded, and a failure must stop its dependents (transitively) while independent steps go on -- a
failed x2 training should not kill the x3 training that has been running for a day beside it. Each job runs
in a worker thread that only waits for its own child process (a papermill kernel), so threads are enough.

The jobs are anything with an `id` and the ids it depends on in `after` (srlib.pipeline.runner.Step); this
module knows nothing else about them, so its ordering is tested with fake jobs.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class Job(Protocol):
    id: str
    after: tuple[str, ...]


@dataclass
class Outcome:
    """What `run_scheduled` did: results of the jobs that succeeded, the exception of each failed job and
    the jobs never started because something they depend on failed."""

    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, BaseException] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)


def _ready(jobs: Sequence[Job], outcome: Outcome, started: set[str]) -> list[Job]:
    """Jobs not started whose dependencies (within `jobs`) all succeeded, in the order given."""
    known = {j.id for j in jobs}
    return [
        j for j in jobs if j.id not in started and all(d in outcome.results for d in j.after if d in known)
    ]


def _blocked(jobs: Sequence[Job], outcome: Outcome) -> list[str]:
    """Jobs that can never start: something they depend on (transitively) failed or is blocked."""
    bad = set(outcome.failures)
    changed = True
    while changed:
        changed = False
        for j in jobs:
            if j.id not in bad and any(d in bad for d in j.after):
                bad.add(j.id)
                changed = True
    return [j.id for j in jobs if j.id in bad and j.id not in outcome.failures]


def run_scheduled(jobs: Sequence[Job], devices: Sequence[str], run_one: Callable[[Job, str], Any]) -> Outcome:
    """Call `run_one(job, device)` for every job, concurrently on distinct devices, in dependency order.

    `jobs` must be in a dependency order (runner.order_steps): among ready jobs the earlier starts first.
    A device string may repeat (`cpu cpu`: two jobs at once on the CPU). An exception of `run_one` marks its
    job failed; a KeyboardInterrupt cancels what has not started and passes through.
    """
    if not devices:
        raise ValueError("run_scheduled needs at least one device")
    outcome, started = Outcome(), set()
    free = list(devices)
    running: dict[cf.Future[Any], tuple[Job, str]] = {}
    with cf.ThreadPoolExecutor(max_workers=len(devices), thread_name_prefix="srlib-step") as pool:
        try:
            while True:
                for job in _ready(jobs, outcome, started):
                    if not free:
                        break
                    device = free.pop(0)
                    started.add(job.id)
                    running[pool.submit(run_one, job, device)] = (job, device)
                if not running:
                    break
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    job, device = running.pop(future)
                    free.append(device)
                    exc = future.exception()
                    if exc is None:
                        outcome.results[job.id] = future.result()
                    else:
                        outcome.failures[job.id] = exc
        except KeyboardInterrupt:
            for future in running:
                future.cancel()
            raise
    outcome.blocked = _blocked(jobs, outcome)
    return outcome
