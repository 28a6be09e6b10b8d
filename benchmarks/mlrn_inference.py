"""Whole-image (untiled) CPU inference cost of the paper-size MLRN, and what bf16 autocast changes.

1. Peak RSS and wall time for one Urban100 image (default img_002, 1024x768 HR) at x2, x3, x4, in float32
   and under bf16 autocast. Each configuration runs in a fresh subprocess, so its peak RSS
   (`resource.getrusage(RUSAGE_SELF).ru_maxrss`: interpreter + torch + model + inference) is its own.
   The model is `MLRN(scale)` with its defaults (non-local regions of `nl_region=16` LR pixels), seeded
   random weights, run through `srlib.inference.super_resolve(..., tile=None)`; `--option KEY=VALUE`
   changes one constructor option (e.g. `--option nl_grid=8` for the legacy fixed-grid rule).
2. bf16 autocast vs float32 on Set5: with random weights a PSNR against HR is meaningless, so the script
   reports the outputs' max-abs difference (on [0, 1]) and the PSNR of the bf16 output against the float32
   one. With `--weights W` (a trained MLRN, see srlib.weights) it also reports PSNR(bf16) - PSNR(fp32)
   against HR, the criterion that matters for the paper's tables.

    SRLIB_MIRROR=../shared/datasets python benchmarks/mlrn_inference.py [--runs 3] [--scales 2 3 4]
        [--option nl_grid=8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
OPTIONS: dict[str, object] = {}  # MLRN constructor options for the random-init model (--option)


def _parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--option expects KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _precision(name: str) -> contextlib.AbstractContextManager[object]:
    """CPU autocast opened here, around the call: `super_resolve(autocast=...)` ignores it off CUDA."""
    dtype = PRECISIONS[name]
    return torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _data_root() -> Path:
    from srlib.core import paths

    return paths.mirror_dir() or paths.data_dir()


def _set_files(name: str) -> list[Path]:
    from srlib.data.benchmark import set_files

    return set_files(name, _data_root())


def _lr_image(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    from srlib.core.imresize import degrade, modcrop
    from srlib.data.images import load_image

    hr = modcrop(load_image(path), scale)
    return hr, degrade(hr, scale)


def _model(scale: int, weights: str | None) -> torch.nn.Module:
    if weights:
        from srlib.weights import load_model

        return load_model(weights, model="mlrn", scale=scale)
    from srlib.models.mlrn import MLRN

    torch.manual_seed(0)
    return MLRN(scale, **OPTIONS).eval()


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(image: Path, scale: int, precision: str, runs: int) -> dict[str, object]:
    """One configuration, in this (fresh) process: timings of `runs` calls and the process's peak RSS."""
    from srlib.inference import super_resolve

    _, lr = _lr_image(image, scale)
    model = _model(scale, None)
    rss_before = _peak_rss_mib()
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        with _precision(precision):
            result = super_resolve(model, lr, tile=None)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "scale": scale,
        "precision": precision,
        "lr": f"{lr.shape[1]}x{lr.shape[0]}",
        "sr": f"{result.image.shape[1]}x{result.image.shape[0]}",
        "mode": result.mode,
        "wall_s": statistics.median(times),
        "wall_first_s": times[0],
        "cpu_s": statistics.median(cpu),
        "rss_before_mib": rss_before,
        "peak_rss_mib": _peak_rss_mib(),
    }


def run_config(image: Path, scale: int, precision: str, runs: int) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--worker", str(image), "--scales", str(scale)]
    cmd += ["--precisions", precision, "--runs", str(runs), "--threads", str(torch.get_num_threads())]
    for key, value in OPTIONS.items():
        cmd += ["--option", f"{key}={json.dumps(value)}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark worker {scale=} {precision=} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _uint8(sr: torch.Tensor) -> np.ndarray:
    return np.clip(np.round(sr[0].permute(1, 2, 0).double().numpy() * 255.0), 0, 255).astype(np.uint8)


def bf16_vs_fp32(scale: int, weights: str | None) -> list[dict[str, object]]:
    """Per Set5 image: max-abs output difference, PSNR(bf16 vs fp32), and with weights PSNR change vs HR."""
    from srlib.core.metrics import psnr
    from srlib.inference import super_resolve_tensor

    model = _model(scale, weights)
    rows = []
    for path in _set_files("Set5"):
        hr, lr = _lr_image(path, scale)
        x = torch.from_numpy(lr).permute(2, 0, 1).float().div(255.0)[None]
        outs = {}
        for p in PRECISIONS:
            with _precision(p):
                outs[p] = super_resolve_tensor(model, x, tile=None)[0]
        images = {p: _uint8(out) for p, out in outs.items()}
        row: dict[str, object] = {
            "image": path.stem,
            "max_abs": (outs["bf16"] - outs["fp32"]).abs().max().item(),
            "psnr_bf16_vs_fp32": psnr(images["bf16"], images["fp32"], shave=scale),
        }
        if weights:
            row["psnr_change_db"] = psnr(images["bf16"], hr, shave=scale) - psnr(
                images["fp32"], hr, shave=scale
            )
        rows.append(row)
    return rows


def timing_table(name: str, scales: list[int], precisions: list[str], runs: int) -> None:
    """Print the Markdown table of wall time and peak RSS per (scale, precision) for Urban100 image `name`."""
    image = next((p for p in _set_files("Urban100") if p.stem == name), None)
    if image is None:
        raise SystemExit(f"Urban100 has no image named {name!r} under {_data_root()}")
    print(f"image {image}; runs {runs}")
    print(
        "| scale | precision | LR | wall s (median) | wall s (first) | CPU s | RSS before inference MiB "
        "| peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for scale in scales:
        for precision in precisions:
            r = run_config(image, scale, precision, runs)
            print(
                f"| x{scale} | {precision} | {r['lr']} | {r['wall_s']:.1f} | {r['wall_first_s']:.1f} "
                f"| {r['cpu_s']:.1f} | {r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="img_002", help="Urban100 image name (default img_002, 1024x768)")
    parser.add_argument("--scales", type=int, nargs="*", default=[2, 3, 4], help="Urban100 timing scales")
    parser.add_argument("--precisions", nargs="+", choices=list(PRECISIONS), default=list(PRECISIONS))
    parser.add_argument("--runs", type=int, default=3, help="timed runs per configuration (median reported)")
    parser.add_argument(
        "--set5-scales",
        type=int,
        nargs="*",
        default=[4],
        help="scales of the Set5 bf16-vs-fp32 check (default 4: cheapest, as bf16 is slow on most CPUs)",
    )
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--weights", help="trained MLRN weights for the bf16 PSNR check (else random init)")
    parser.add_argument(
        "--option", type=_parse_option, action="append", default=[], help="MLRN option KEY=VALUE (repeatable)"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    OPTIONS.update(dict(args.option))
    if args.worker:
        print(json.dumps(worker(args.worker, args.scales[0], args.precisions[0], args.runs)))
        return

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, options {OPTIONS}", flush=True)
    if args.scales:
        timing_table(args.image, args.scales, args.precisions, args.runs)
    weights_note = f"weights {args.weights}" if args.weights else "random-init weights (seed 0)"
    for scale in args.set5_scales:
        rows = bf16_vs_fp32(scale, args.weights)
        print(f"\nSet5 x{scale}, bf16 autocast vs float32, {weights_note}:")
        for row in rows:
            print(
                "  "
                + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
            )
        print(
            f"  max over images: max_abs={max(float(r['max_abs']) for r in rows):.4g}, "
            f"min psnr_bf16_vs_fp32={min(float(r['psnr_bf16_vs_fp32']) for r in rows):.2f} dB",
            flush=True,
        )


if __name__ == "__main__":
    main()
