"""Speed of srlib.core.imresize (MATLAB bicubic) on a 1024x768 RGB image: numpy and torch paths.

Prints the median wall time and process CPU time (all threads) of --runs runs for downscaling (x1/2, x1/4:
the HR -> LR degradation of the benchmarks) and upscaling (x2, x4: the Bicubic baseline and the
pre-upsampling models' input), for numpy float64, numpy uint8 (`imresize_uint8`, MATLAB's uint8 path, used by
`degrade`), torch float32 and float64 on the CPU, and on CUDA when a GPU is present; then the ratios of the
wall times to numpy float64's. On a shared machine the CPU times are the steadier measure.

    python benchmarks/imresize_speed.py [--runs 7] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from srlib.core.imresize import imresize, imresize_uint8

SCALES = (0.5, 0.25, 2.0, 4.0)


def median_ms(
    fn: Callable[[], object], runs: int, sync: Callable[[], None] = lambda: None
) -> tuple[float, float]:
    """Median wall time and median process CPU time, in ms, of `runs` calls after one warm-up call."""
    fn()
    sync()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1000.0 * statistics.median(wall), 1000.0 * statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (default 7)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    img_u8 = rng.integers(0, 256, size=(768, 1024, 3), dtype=np.uint8)
    img_f64 = img_u8.astype(np.float64) / 255.0
    cases: dict[str, Callable[[float], Callable[[], object]]] = {
        "numpy float64": lambda s: lambda: imresize(img_f64, scale=s),
        "numpy uint8": lambda s: lambda: imresize_uint8(img_u8, scale=s),
    }
    syncs: dict[str, Callable[[], None]] = {}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        for dtype in (torch.float32, torch.float64):
            t = torch.from_numpy(img_f64).permute(2, 0, 1)[None].to(device=dev, dtype=dtype).contiguous()
            key = f"torch {dev} {str(dtype).removeprefix('torch.')}"
            cases[key] = lambda s, t=t: lambda: imresize(t, scale=s)
            syncs[key] = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

    print(
        f"imresize on a 1024x768x3 image, median of {args.runs} runs; python {platform.python_version()}, "
        f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print("wall ms / CPU ms")
    print(f"{'path':<22}" + "".join(f"{'x' + format(s, 'g'):>16}" for s in SCALES))
    results: dict[str, list[tuple[float, float]]] = {}
    for key, make in cases.items():
        results[key] = [median_ms(make(s), args.runs, syncs.get(key, lambda: None)) for s in SCALES]
        print(f"{key:<22}" + "".join(f"{w:>9.1f} /{c:>5.0f}" for w, c in results[key]))
    base = results["numpy float64"]
    print("\nwall time ratio to numpy float64")
    for key, values in results.items():
        print(f"{key:<22}" + "".join(f"{v[0] / b[0]:>16.2f}" for v, b in zip(values, base, strict=True)))


if __name__ == "__main__":
    main()
