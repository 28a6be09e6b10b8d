"""One step with every core's threads, or one 1-thread step per core side by side: which does more work?

    PYTHONPATH=. python3 benchmarks/cpu_slots.py [--models mlrn srcnn vdsr lapsrn memnet] [--seconds 8]

Why: `srlib replicate` runs a profile that pins `runtime.threads` as cores // threads concurrent steps
(`srlib.pipeline.workers`; quick: 1 thread, so 2 steps on 2 cores). This measures the throughput that buys,
per quick-size model at x2, for a training iteration (batch 16, the quick HR patch, random data: forward,
loss, backward, Adam; `benchmarks/train_speed.py`'s step) and for inference on a 240x160 LR image (a BSD100
image's size at x2). For each: the median seconds per call of one process with `cores` torch threads alone,
and of `cores` processes with 1 thread each started together (each timing only its own calls, for
`--seconds`, after a warm-up); the ratio is cores x (alone) / (side by side): above 1, the slots do more
work per second. Needs no data. Prints a Markdown table with the CPU model, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `srlib` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("mlrn", "srcnn", "vdsr", "lapsrn", "memnet")
LR_HW = (160, 240)


def _work(model: str, kind: str):
    """A zero-argument callable: one quick-size training iteration or one inference."""
    import torch

    from benchmarks.train_speed import train_step_fn

    step, net, _ = train_step_fn(model, "quick", 16)
    if kind == "train":
        return step
    net.eval()
    x = torch.rand(1, net.in_channels, *LR_HW)

    def infer() -> None:
        with torch.no_grad():
            net(x)

    return infer


def _timed(model: str, kind: str, threads: int, seconds: float, start, out) -> None:
    """In a fresh process: `threads` torch threads, one warm-up call, then calls for `seconds` after the
    shared `start` barrier; puts the median seconds per call on `out`."""
    import torch

    torch.set_num_threads(threads)
    fn = _work(model, kind)
    fn()
    start.wait()
    times, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    out.put(statistics.median(times))


def measure(model: str, kind: str, procs: int, threads: int, seconds: float) -> list[float]:
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(procs), ctx.Queue()
    workers = [
        ctx.Process(target=_timed, args=(model, kind, threads, seconds, start, out)) for _ in range(procs)
    ]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    return results


def cpu_name() -> str:
    """The CPU model as provenance records it, plus whether it has AVX-512 (bf16/fp32 speed differs)."""
    from srlib.core.provenance import device_info

    try:
        avx512 = " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return device_info()["cpu"] or "unknown CPU"
    return f"{device_info()['cpu']} ({'AVX-512' if avx512 else 'AVX2, no AVX-512'})"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per configuration")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)), help="default: usable")
    args = parser.parse_args()
    n = args.cores
    print(f"{cpu_name()}, {n} usable cores, torch {torch.__version__}, load average "
          f"{os.getloadavg()[0]:.1f} at start\n")  # fmt: skip
    print(f"| model (quick size, x2) | work | 1 process x {n} threads: s/call | {n} processes x 1 thread: "
          "s/call (median of their medians) | throughput ratio |\n|---|---|---:|---:|---:|")  # fmt: skip
    for model in args.models:
        for kind in ("train", "infer"):
            (alone,) = measure(model, kind, 1, n, args.seconds)
            side = statistics.median(measure(model, kind, n, 1, args.seconds))
            what = (
                "training iteration (batch 16)" if kind == "train" else f"inference {LR_HW[1]}x{LR_HW[0]} LR"
            )
            print(f"| {model} | {what} | {alone:.4f} | {side:.4f} | {n * alone / side:.2f} |", flush=True)


if __name__ == "__main__":
    main()
