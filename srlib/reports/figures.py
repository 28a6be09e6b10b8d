"""Figures for the notebooks: HR/LR pairs, the paper's Fig. 5-style visual comparison, training curves.

Everything draws on `matplotlib.figure.Figure` (no pyplot state, so it works the same in a notebook, under
papermill and headless) and `save` writes PNGs atomically. The comparison crop is chosen by a rule rather than
by eye: the window with the most HR gradient energy (texture and edges, where methods differ), so a re-run
picks the same region and no method is favoured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from srlib.core import atomic

Box = tuple[int, int, int, int]  # top, left, height, width (HR pixels)


def save(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Write `fig` as a PNG atomically; returns the path."""
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def show_pairs(pairs: Sequence[tuple[str, np.ndarray]], scale: int) -> Figure:
    """Each HR image beside its LR input (MATLAB-bicubic degradation at `scale`), at the same display size
    so the lost detail is visible."""
    from srlib.core.imresize import degrade, modcrop

    fig = Figure(figsize=(7, 3.2 * len(pairs)), constrained_layout=True)
    axes = fig.subplots(len(pairs), 2, squeeze=False)
    for (name, image), (ax_hr, ax_lr) in zip(pairs, axes, strict=True):
        hr = modcrop(image, scale)
        lr = degrade(hr, scale)
        ax_hr.imshow(hr)
        ax_hr.set_title(f"{name}: HR {hr.shape[1]}x{hr.shape[0]}", fontsize=9)
        ax_lr.imshow(lr, interpolation="nearest")
        ax_lr.set_title(f"LR x{scale}: {lr.shape[1]}x{lr.shape[0]}", fontsize=9)
        for ax in (ax_hr, ax_lr):
            ax.set_axis_off()
    return fig


def pick_crop(hr: np.ndarray, size: int, margin: int = 0, step: int = 4) -> Box:
    """The `size` x `size` window (on a `step` grid, at least `margin` pixels from every border, where
    convolutions see padding) of `hr` with the largest gradient energy of its luminance; ties go to the
    top-left-most window, so the choice is deterministic."""
    h, w = hr.shape[:2]
    size = min(size, h, w)
    margin = max(0, min(margin, (h - size) // 2, (w - size) // 2))
    gray = hr.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) if hr.ndim == 3 else hr.astype(np.float64)
    energy = np.zeros((h, w))
    energy[:, 1:] += np.diff(gray, axis=1) ** 2
    energy[1:, :] += np.diff(gray, axis=0) ** 2
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys = np.arange(margin, h - size - margin + 1, step)
    xs = np.arange(margin, w - size - margin + 1, step)
    y0, x0 = np.meshgrid(ys, xs, indexing="ij")
    total = (
        integral[y0 + size, x0 + size] - integral[y0, x0 + size] - integral[y0 + size, x0] + integral[y0, x0]
    )
    iy, ix = np.unravel_index(int(np.argmax(total)), total.shape)
    return int(ys[iy]), int(xs[ix]), size, size


def visual_comparison(
    hr: np.ndarray,
    results: Mapping[str, tuple[np.ndarray, float, float]],
    box: Box,
    title: str,
) -> Figure:
    """The paper's Fig. 5 layout: the HR image with the crop box on the left; on the right the zoomed crop of
    HR and of each method's output (`results[label] = (sr, psnr, ssim)`), labelled with its PSNR/SSIM."""
    top, left, bh, bw = box
    panels = [("HR", hr, None), *((k, v[0], (v[1], v[2])) for k, v in results.items())]
    cols = (len(panels) + 1) // 2
    fig = Figure(figsize=(3.2 + 2.1 * cols, 4.6), constrained_layout=True)
    grid = fig.add_gridspec(2, cols + 2)
    ax = fig.add_subplot(grid[:, :2])
    ax.imshow(hr)
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), bw, bh, fill=False, edgecolor="red", linewidth=1.5))
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    for i, (label, image, scores) in enumerate(panels):
        sub = fig.add_subplot(grid[i // cols, 2 + i % cols])
        sub.imshow(image[top : top + bh, left : left + bw], interpolation="nearest")
        text = label if scores is None else f"{label}\n{scores[0]:.2f} dB / {scores[1]:.4f}"
        sub.set_title(text, fontsize=8)
        sub.set_axis_off()
    return fig


def compare_methods(
    models: Mapping[str, Any], hr: np.ndarray, scale: int, grayscale: bool = False
) -> dict[str, tuple[np.ndarray, float, float]]:
    """Super-resolve the LR version of `hr` with each model and score it by the evaluation protocol
    (`srlib.evaluation.score_image`, as `srlib evaluate` does); `grayscale` as for a single-channel file
    (`srlib.evaluation.is_single_channel_file`)."""
    from srlib.evaluation import prepare, score_image

    item = prepare(hr, scale, gray=grayscale)
    out = {}
    for label, model in models.items():
        scored = score_image(model, item)
        out[label] = (scored.sr, scored.psnr, scored.ssim)
    return out


def training_curves(logs: Mapping[int, Mapping[str, Sequence[Mapping[str, Any]]]], profile: str) -> Figure:
    """Training loss (top row) and validation PSNR (bottom row) against iterations, one column per scale and
    one line per model; `logs[scale][label]` is a run's log records (srlib.train's log.jsonl)."""
    scales = sorted(logs)
    fig = Figure(figsize=(4.2 * len(scales), 6), constrained_layout=True)
    axes = fig.subplots(2, len(scales), squeeze=False)
    for col, scale in enumerate(scales):
        ax_loss, ax_val = axes[0][col], axes[1][col]
        for label, records in logs[scale].items():
            train = [r for r in records if r.get("kind") == "train" and r.get("loss") is not None]
            val = [r for r in records if r.get("kind") == "val" and r.get("val_psnr") is not None]
            if train:
                ax_loss.plot([r["iteration"] for r in train], [r["loss"] for r in train], lw=1, label=label)
            if val:
                its = [r["iteration"] for r in val]
                ax_val.plot(its, [r["val_psnr"] for r in val], "o-", ms=3, lw=1, label=label)
        ax_loss.set_title(f"x{scale} ({profile} profile)", fontsize=10)
        ax_loss.set_ylabel("training loss (each model's own)")
        if ax_loss.lines and all(min(line.get_ydata()) > 0 for line in ax_loss.lines):
            ax_loss.set_yscale("log")
        ax_val.set_ylabel("validation PSNR (Y) [dB]")
        ax_val.set_xlabel("iteration")
        for ax in (ax_loss, ax_val):
            if ax.lines:
                ax.legend(fontsize=7)
    return fig
