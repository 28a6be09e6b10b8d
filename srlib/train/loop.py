"""Training-time validation: mean PSNR/SSIM of a model on a small set (Set5, Demo) during training.

(Kept apart from the trainer so that it can move to the shared evaluation core, srlib.evaluation.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn


class Validator:
    """Mean PSNR/SSIM (Y channel, shave = scale: srlib.core.metrics' protocol) on a small set (Set5, Demo)."""

    def __init__(self, set_name: str, scale: int, data_dir: Path | None, max_images: int | None):
        from srlib.core.imresize import degrade, modcrop

        self.set_name, self.scale = set_name, scale
        images = _load_eval_set(set_name, data_dir)
        if max_images:
            images = images[: int(max_images)]
        self.pairs = []
        for name, img in images:
            hr = modcrop(img, scale)
            self.pairs.append((name, degrade(hr, scale), hr))

    def __call__(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        from srlib.core.metrics import psnr, ssim
        from srlib.inference import super_resolve

        was_training = model.training
        ps, ss = [], []
        try:
            for _, lr, hr in self.pairs:
                sr = super_resolve(model, lr, device=device).image
                ps.append(psnr(sr, hr, shave=self.scale))
                ss.append(ssim(sr, hr, shave=self.scale))
        finally:
            model.train(was_training)
        return {
            "psnr": float(np.mean(ps)),
            "ssim": float(np.mean(ss)),
            "set": self.set_name,
            "images": len(self.pairs),
        }


def _load_eval_set(name: str, data_dir: Path | None) -> list[tuple[str, np.ndarray]]:
    """(file name, uint8 RGB) pairs of a benchmark set in sorted file order, or of the embedded Demo set."""
    if name.lower() == "demo":
        from srlib.data import demo

        return [(n, img) for n, img in demo.images()]
    from srlib.data.benchmark import set_files
    from srlib.data.images import load_image

    return [(Path(f).name, load_image(f)) for f in sorted(set_files(name, data_dir))]
