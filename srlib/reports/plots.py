"""Plain plots the per-step notebooks draw: HR beside LR (00_data) and training curves (01_train, 05_figures).

Kept apart from `figures` (the paper's Fig. 5) so that a notebook's skip key, which covers the modules it
imports, does not change for 00_data and every training when the Fig. 5 assembly is edited. Everything draws
on `matplotlib.figure.Figure` (no pyplot state); `srlib.reports.figures.save` writes PNGs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure


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
