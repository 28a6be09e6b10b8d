"""Training and inference speed of every model at its `quick` and `paper` sizes on this machine.

    SRLIB_MIRROR=../shared/datasets python benchmarks/train_speed.py [--steps 5] [--paper-batch 4]

Prints Markdown tables (paste into docs/benchmarks.md, "## Training"):

1. per model and size (x2, batch 16, the profile's HR patch): ms per training iteration (forward, loss,
   backward, Adam step) as wall time and as CPU time of this process, samples/s, and the share of the step the
   data loader takes (fetching one batch from the HDF5 cache through a DataLoader with num_workers=0, as
   the quick profile trains);
2. inference time per Set5 image at x2 (mean over the first `--set5-images` images in sorted order,
   whole-image `super_resolve`, after one warm-up run per image except for paper sizes);
3. the GFLOP/s that one paper-size MLRN training step reaches, divided by what a bare 3x3 convolution
   (64 -> 64 channels, 96x96, batch 16, forward + backward) reaches in the same run -- how far the network's
   mix of small convolutions, attention and covariance pooling is from the machine's convolution throughput.
   FLOPs are counted by torch.utils.flop_counter.FlopCounterMode (convolutions, matmuls, SDPA).

Paper-size models are timed at `--paper-batch` patches per step (default 4; a batch of 16 at 192x192 takes
minutes per step on a 2-core CPU) and the ms/iteration column is scaled to the paper's batch of 16 (linear in
the batch; marked). The machine may be shared: the CPU-time column is the more robust figure then.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from srlib.models import build_model
from srlib.train.config import resolve_config
from srlib.train.losses import TrainingForward, pixel_loss, total_loss

MODELS = ("mlrn", "srcnn", "vdsr", "lapsrn", "memnet")


def _timed(fn, steps: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `fn()` over `steps` runs after one warm-up."""
    fn()
    walls, cpus = [], []
    for _ in range(steps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def train_step_fn(model: str, profile: str, batch: int, scale: int = 2):
    config = resolve_config(model, scale, profile)
    torch.manual_seed(0)
    net = build_model(model, scale, **config["model_options"])
    fwd = TrainingForward(net, config["loss"]["multi_output"])
    loss_fn = pixel_loss(config["loss"])
    opt = torch.optim.Adam(net.parameters(), lr=1e-5)
    hr_patch = config["hr_patch"]
    lr = torch.rand(batch, net.in_channels, hr_patch // scale, hr_patch // scale)
    hr = torch.rand(batch, net.in_channels, hr_patch, hr_patch)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = total_loss(fwd(lr), hr, loss_fn, scale)
        loss.backward()
        opt.step()

    return step, net, config


def loader_time(config: dict, in_channels: int, data_dir: Path | None, steps: int) -> float | None:
    """Median wall seconds to fetch one batch of 16 from the training cache (num_workers=0)."""
    from srlib.data.dataset import PatchDataset
    from srlib.data.patches import build_cache

    try:
        cache = build_cache(config["data"]["train_sets"], config["scale"], data_dir=data_dir, progress=False)
    except Exception as exc:  # sets not prepared
        print(f"(loader share skipped: {exc})")
        return None
    ds = PatchDataset(cache, config["hr_patch"] // config["scale"], 10**6, 0, in_channels=in_channels)
    loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=0)
    it = iter(loader)
    next(it)
    times = []
    for _ in range(steps * 4):
        t = time.perf_counter()
        next(it)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def flop_count(fn) -> float:
    """GFLOP of one call of `fn`, counted by FlopCounterMode (convolutions, matmuls, SDPA)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def set5_inference(net: torch.nn.Module, data_dir: Path | None, n_images: int, warm: bool) -> float | None:
    from srlib.core.imresize import degrade, modcrop
    from srlib.data.benchmark import set_files
    from srlib.data.images import load_image
    from srlib.inference import super_resolve

    try:
        files = set_files("Set5", data_dir)
    except Exception as exc:
        print(f"(Set5 inference skipped: {exc})")
        return None
    net.eval()
    times = []
    for f in sorted(files)[:n_images]:
        lr = degrade(modcrop(load_image(f), 2), 2)
        if warm:
            super_resolve(net, lr, tile=None)  # warm-up (allocator, oneDNN kernels)
        t = time.perf_counter()
        super_resolve(net, lr, tile=None)
        times.append(time.perf_counter() - t)
    net.train()
    return sum(times) / len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration (median)")
    parser.add_argument("--paper-batch", type=int, default=4, help="batch for paper-size training steps")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--profiles", nargs="+", default=["quick", "paper"])
    parser.add_argument("--set5-images", type=int, default=5, help="Set5 images (sorted) timed for inference")
    parser.add_argument("--data-dir", default=None, help="prepared data (T91, BSD200, Set5); default data/")
    args = parser.parse_args()
    data_dir = Path(args.data_dir) if args.data_dir else None
    if data_dir is None and os.environ.get("SRLIB_MIRROR") and not (Path("data") / "T91").is_dir():
        from srlib.data.prepare import prepare

        mirror = os.environ["SRLIB_MIRROR"]
        prepare(sets=["T91", "BSD200", "Set5"], data_dir=None, mirror=mirror, progress=False)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at start\n"
    )
    rows, inference = [], []
    for profile in args.profiles:
        for model in args.models:
            batch = args.paper_batch if profile == "paper" else 16
            step, net, config = train_step_fn(model, profile, batch)
            steps = max(2, args.steps // 2) if profile == "paper" else args.steps
            wall, cpu = _timed(step, steps)
            f = 16 / batch
            data = loader_time(config, net.in_channels, data_dir, steps) if profile == "quick" else None
            share = f"{100 * data / (data + wall):.1f}%" if data is not None else "-"
            params = sum(p.numel() for p in net.parameters())
            mark = "*" if f != 1 else ""
            rows.append(
                f"| {model} | {profile} | {params:,} | {config['hr_patch']} | {1000 * wall * f:.0f}{mark} | "
                f"{1000 * cpu * f:.0f}{mark} | {batch / wall:.1f} | {share} |"
            )
            print(rows[-1], flush=True)
            t = set5_inference(net, data_dir, args.set5_images, warm=profile != "paper")
            if t is not None:
                inference.append(f"| {model} | {profile} | {1000 * t:.0f} |")
    print(
        "\n| model | size | parameters | HR patch | ms/iteration (wall) | ms/iteration (CPU) | samples/s | "
        "loader share |\n|---|---|---|---|---|---|---|---|"
    )
    print("\n".join(rows))
    head = f"ms per image (x2, wall; first {args.set5_images} Set5 images)"
    print(f"\n| model | size | {head} |\n|---|---|---|")
    print("\n".join(inference))

    # paper-size MLRN step vs a bare 3x3 conv: alternate the two so that both see the same machine load
    step, _, _ = train_step_fn("mlrn", "paper", args.paper_batch)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.rand(16, 64, 96, 96)

    def conv_step() -> None:
        conv.zero_grad(set_to_none=True)
        conv(x).sum().backward()

    g_mlrn, g_conv = flop_count(step), flop_count(conv_step)
    rates_mlrn, rates_conv = [], []
    for _ in range(max(3, args.steps)):
        rates_mlrn.append(g_mlrn / _timed(step, 1)[0])
        rates_conv.append(g_conv / _timed(conv_step, 1)[0])
    ratio = statistics.median(a / b for a, b in zip(rates_mlrn, rates_conv, strict=True))
    print(
        f"\npaper-size MLRN training step (batch {args.paper_batch}, 96x96 LR): {g_mlrn:.1f} GFLOP, "
        f"median {statistics.median(rates_mlrn):.1f} GFLOP/s"
    )
    print(
        f"bare 3x3 conv 64->64, 96x96, batch 16, forward+backward: {g_conv:.1f} GFLOP, "
        f"median {statistics.median(rates_conv):.1f} GFLOP/s"
    )
    print(f"ratio (median of {len(rates_mlrn)} alternating pairs): {ratio:.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
