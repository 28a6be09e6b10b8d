"""How many pipeline steps run at once on a CPU, and with how many torch threads each.

Why: CPU numerics depend on torch's intra-op thread count (a training's weights differ between 1 and 2
threads, docs/benchmarks.md), and much of a CPU step is single-threaded anyway (kernel start, imports, image
decoding, degradation, metrics): two 1-thread steps side by side overlap those parts, which a second thread
inside one step cannot (docs/benchmarks.md, "CPU slots"). A profile that pins
`runtime.threads` (quick: 1) therefore computes the same bits on any machine whatever its core count, and
the pipeline may run cores // threads of its steps side by side without changing a result: every kernel of
that profile starts with OMP_NUM_THREADS = threads, so an evaluation uses the thread count of the training
before it, sequential or not.
"""

from __future__ import annotations

import os
from pathlib import Path

# What torch (and MKL, where it is used) read for the intra-op thread count when a kernel starts.
THREAD_ENV: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def profile_threads(profile: str | Path) -> int | None:
    """The profile's `runtime.threads` (None: torch's default, i.e. every core)."""
    from srlib.train import load_profile

    threads = load_profile(profile)["defaults"].get("runtime", {}).get("threads")
    return int(threads) if threads else None


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, e.g. a batch job's allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_env(threads: int | None) -> dict[str, str]:
    """The environment a step's kernel starts with for `threads` (nothing when the profile leaves it open)."""
    return {name: str(int(threads)) for name in THREAD_ENV} if threads else {}


def default_devices(profile: str | Path, cores: int | None = None) -> list[str] | None:
    """`srlib replicate --devices` when none are given: for a profile that pins `runtime.threads` and runs
    on the CPU here, one CPU slot per `threads` usable cores; None (one step at a time) for a GPU, for a
    profile that leaves the thread count to torch, or when only one slot would fit."""
    from srlib.core.device import resolve_device
    from srlib.train import load_profile

    threads = profile_threads(profile)
    if threads is None:
        return None
    device = load_profile(profile)["defaults"].get("runtime", {}).get("device", "auto")
    if resolve_device(device).type != "cpu":
        return None
    slots = (usable_cores() if cores is None else cores) // threads
    return ["cpu"] * slots if slots >= 2 else None
