"""Training-loader throughput: the HDF5 cache + PatchDataset against decoding and degrading on the fly.

Prints patches/s (median of --runs runs) of a DataLoader with batch 16 at x2, for HR patches of 96 (LR 48)
and the paper's 192 (LR 96), with num_workers 0 and 2. The baseline computes the very same samples (same
image, position and transform, from `PatchDataset.draw`) by decoding the image file, modcropping and
degrading it (MATLAB bicubic) and cropping, for every sample. T91 comes from the data directory
(`srlib data prepare --sets T91`) or else from $SRLIB_MIRROR. The cache is built in a temporary folder.
It also compares the cache's storage format (whole images, cropped at read time) with pre-cut patches.

    python benchmarks/loader_speed.py [--sets T91 BSD200] [--runs 5] [--batches 30] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from srlib.core import paths
from srlib.core.imresize import degrade, modcrop
from srlib.data.benchmark import DataNotPreparedError, set_files
from srlib.data.dataset import PatchDataset, apply_transform
from srlib.data.images import load_image
from srlib.data.patches import build_cache, check_cache, read_crop, read_image


class OnTheFly(Dataset):
    """The baseline: PatchDataset's samples, computed from the image files every time."""

    def __init__(self, ds: PatchDataset, files: dict[str, Path]) -> None:
        self.ds, self.files = ds, files

    def __len__(self) -> int:
        return len(self.ds)

    def patches(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        d, p, s = self.ds.draw(i), self.ds.lr_patch, self.ds.scale
        hr = modcrop(load_image(self.files[self.ds.images[d.image]]), s)
        lr = degrade(np.ascontiguousarray(hr), s)[d.y : d.y + p, d.x : d.x + p]
        hr = hr[d.y * s : (d.y + p) * s, d.x * s : (d.x + p) * s]
        return apply_transform(lr, d.hflip, d.vflip, d.rot90), apply_transform(hr, d.hflip, d.vflip, d.rot90)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.patches(i)
        return self.ds._to_tensor(lr), self.ds._to_tensor(hr)


def find_data(sets: list[str], data_dir: Path | None) -> Path:
    candidates = [data_dir] if data_dir else [paths.data_dir(), paths.mirror_dir()]
    for root in filter(None, candidates):
        try:
            for name in sets:
                set_files(name, root)
            return Path(root)
        except DataNotPreparedError:
            continue
    sys.exit(f"{sets} not found: run `srlib data prepare --sets ...`, set SRLIB_MIRROR, or pass --data-dir")


def patches_per_s(dataset: Dataset, batch: int, batches: int, workers: int, start: int) -> tuple[float, ...]:
    """(wall-clock, CPU-time) patches/s of batches read in order from index `start`; the first batch (worker
    start-up) is not timed. The CPU time is this process's: the loader's whole cost only when workers == 0."""
    indices = range(start, start + (batches + 1) * batch)
    loader = DataLoader(
        torch.utils.data.Subset(dataset, indices),
        batch_size=batch,
        num_workers=workers,
        multiprocessing_context="fork" if workers else None,
    )
    it = iter(loader)
    next(it)
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(lr.shape[0] for lr, _ in it)
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def compare_formats(cache: Path, hr_patch: int, folder: Path, reads: int = 3000) -> list[str]:
    """The format choice of srlib.data.patches: whole images cropped at read time (the cache) against
    pre-cut patches (HR patch cut at a stride of half a patch, one (lr, hr) dataset row per patch).
    Returns table cells: file sizes, number of pre-cut patches, raw reads/s of (lr, hr) pairs, one process."""
    index = check_cache(cache)
    s = index.scale
    p, step = hr_patch // s, hr_patch // s // 2
    rng = np.random.default_rng(0)
    with h5py.File(cache, "r") as h5:
        lr_imgs = [read_image(h5, index, "lr", i) for i in range(len(index))]
        hr_imgs = [read_image(h5, index, "hr", i) for i in range(len(index))]
        fits = [i for i, im in enumerate(lr_imgs) if min(im.shape[:2]) >= p]
        lr_data, hr_data = h5["lr"], h5["hr"]
        t0 = time.perf_counter()
        for _ in range(reads):
            i = fits[rng.integers(len(fits))]
            y, x = (int(rng.integers(n - p + 1)) for n in lr_imgs[i].shape[:2])
            read_crop(lr_data, index.lr_offsets[i], index.lr_shapes[i], y, x, p, p)
            read_crop(hr_data, index.hr_offsets[i], index.hr_shapes[i], y * s, x * s, p * s, p * s)
        whole_rate = reads / (time.perf_counter() - t0)
    lr_cut, hr_cut = [], []
    for lr, hr in zip(lr_imgs, hr_imgs, strict=True):
        for y in range(0, lr.shape[0] - p + 1, step):
            for x in range(0, lr.shape[1] - p + 1, step):
                lr_cut.append(lr[y : y + p, x : x + p])
                hr_cut.append(hr[y * s : (y + p) * s, x * s : (x + p) * s])
    cut = folder / f"precut_{hr_patch}.h5"
    with h5py.File(cut, "w") as h5:
        h5["lr"], h5["hr"] = np.stack(lr_cut), np.stack(hr_cut)
    with h5py.File(cut, "r") as h5:
        lr_data, hr_data = h5["lr"], h5["hr"]
        t0 = time.perf_counter()
        for _ in range(reads):
            k = int(rng.integers(len(lr_cut)))
            lr_data[k], hr_data[k]  # the read is what is timed
        cut_rate = reads / (time.perf_counter() - t0)
    mb = [f"{cache.stat().st_size / 1e6:.0f}", f"{cut.stat().st_size / 1e6:.0f}"]
    return [str(hr_patch), mb[0], f"{whole_rate:.0f}", mb[1], str(len(lr_cut)), f"{cut_rate:.0f}"]


def median_rate(dataset: Dataset, batch: int, batches: int, workers: int, runs: int) -> tuple[float, float]:
    """Medians over `runs` runs, each on other indices (run r starts at index r * 10**6)."""
    rates = [patches_per_s(dataset, batch, batches, workers, r * 10**6) for r in range(runs)]
    return statistics.median(r[0] for r in rates), statistics.median(r[1] for r in rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--sets", nargs="+", default=["T91"], help="training sets (default T91)")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=30, help="timed batches per run (cache loader)")
    parser.add_argument("--baseline-batches", type=int, default=4, help="timed batches per run (baseline)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--hr-patches", type=int, nargs="+", default=[96, 192])
    parser.add_argument("--no-formats", action="store_true", help="skip the whole-image/pre-cut comparison")
    args = parser.parse_args()

    # One intra-op thread, as in DataLoader workers: with several, torch's OpenMP start-up on every small op
    # (the collate's stack) dominates the main process's time on a busy machine.
    torch.set_num_threads(1)
    root = find_data(args.sets, args.data_dir)
    files = {f"{name}/{f.name}": f for name in args.sets for f in set_files(name, root)}
    print(f"# {'+'.join(args.sets)} from {root}; {platform.machine()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cache = build_cache(args.sets, args.scale, data_dir=root, cache_dir=tmp, progress=False)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_cache(args.sets, args.scale, data_dir=root, cache_dir=tmp, progress=False)
        checked = time.perf_counter() - t0
        size = cache.stat().st_size / 1e6
        print(f"# cache: built in {built:.1f} s ({size:.1f} MB), checked and reused in {checked:.2f} s")
        if not args.no_formats:
            print("# storage format: raw random reads of (lr, hr) pairs/s, one process, page cache warm")
            columns = ["HR patch", "whole images: MB", "reads/s", "pre-cut (stride 1/2): MB", "patches"]
            columns.append("reads/s")
            print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
            for hr_patch in args.hr_patches:
                print("| " + " | ".join(compare_formats(cache, hr_patch, Path(tmp))) + " |", flush=True)
        print(f"# batch {args.batch}, x{args.scale}, median of {args.runs} runs")
        print("# patches/s (wall clock); with 0 workers also CPU ms per patch (process time, robust to load)")
        columns = ["HR patch", "LR patch", "workers", "cache: patches/s", "on the fly: patches/s", "ratio"]
        columns += ["cache: CPU ms/patch", "on the fly: CPU ms/patch"]
        print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
        for hr_patch in args.hr_patches:
            ds = PatchDataset(cache, hr_patch // args.scale, length=10**9, seed=0)
            baseline = OnTheFly(ds, files)
            for i in range(3):  # both loaders give the same samples
                for a, b in zip(ds.patches(i), baseline.patches(i), strict=True):
                    assert np.array_equal(a, b)
            for workers in args.workers:
                fast, fast_cpu = median_rate(ds, args.batch, args.batches, workers, args.runs)
                slow, slow_cpu = median_rate(baseline, args.batch, args.baseline_batches, workers, args.runs)
                cpu = [f"{1e3 / fast_cpu:.2f}", f"{1e3 / slow_cpu:.1f}"] if workers == 0 else ["-", "-"]
                row = [hr_patch, hr_patch // args.scale, workers, f"{fast:.0f}", f"{slow:.0f}"]
                row += [f"{fast / slow:.1f}x", *cpu]
                print("| " + " | ".join(map(str, row)) + " |", flush=True)


if __name__ == "__main__":
    main()
