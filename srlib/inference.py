"""Inference: uint8 image in, uint8 image out, whatever the model's input convention and the image's size.

- Y-only models (in_channels == 1) see the Y channel of YCbCr; Cb/Cr are upscaled by MATLAB bicubic, as the
  paper's Section 4.1 describes for display.
- Memory-bounded: `tile="auto"` (the default) runs the whole image at once unless the output exceeds
  `max_pixels`, and otherwise runs overlapping LR tiles and stitches their centres ("crop and stitch": every
  output pixel comes from exactly one tile, no blending). A tile sees `overlap` extra LR pixels of context on
  each side, so for a model whose receptive field (in LR pixels, including the bicubic pre-upsampling of
  SRCNN/VDSR/MemNet) is at most `overlap`, tiled and whole-image outputs agree to float rounding (< 1e-4 on
  [0, 1]). Baselines publish it as `model.receptive_radius`, which is the default overlap. MLRN's covariance
  pooling sees the whole input and its non-local regions are cut from the tile, so its tiled output differs
  from the whole-image one (docs/models.md measures by how much); benchmark images are below the default
  `max_pixels`, so evaluation always runs them whole.
- Optional x8 self-ensemble (the 8 dihedral transforms of the input, inverse-transformed and averaged), a
  `device` (the model is moved there) and an `autocast` dtype (e.g. torch.bfloat16) used on CUDA only: on
  this project's CPU, bf16 autocast made the paper-size MLRN 40-60x slower (docs/benchmarks.md), so on any
  other device it is ignored with a warning and inference runs in float32, as training does.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from srlib.core.color import rgb2ycbcr, ycbcr2rgb
from srlib.core.imresize import imresize

DEFAULT_OVERLAP = 32  # LR pixels of context per tile side for models without `receptive_radius`
AUTO_MAX_PIXELS = 2_000_000  # output pixels above which tile="auto" tiles (every benchmark image is below)
MIN_TILE = 16


@dataclass(frozen=True)
class SRResult:
    """An SR image and how it was computed, so results can record it.

    `mode` is "whole" or "tiled", with "+x8" appended when the x8 self-ensemble was used.
    """

    image: np.ndarray
    mode: str


def parse_tile(value: str | int | None) -> int | str | None:
    """A `--tile` value: "auto", "none" (whole image, returned as None) or a positive number of LR pixels."""
    text = str(value).strip().lower()
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"--tile must be auto, none or a positive number of LR pixels, got {value!r}")
    return int(text)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _spans(length: int, tile: int) -> list[tuple[int, int]]:
    """Split [0, length) into ceil(length / tile) near-equal consecutive spans."""
    n = max(1, math.ceil(length / tile))
    edges = [round(i * length / n) for i in range(n + 1)]
    return list(itertools.pairwise(edges))


def _tiled(model: nn.Module, x: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    s = model.scale
    height, width = x.shape[-2:]
    out: torch.Tensor | None = None
    for y0, y1 in _spans(height, tile):
        for x0, x1 in _spans(width, tile):
            py0, py1 = max(y0 - overlap, 0), min(y1 + overlap, height)
            px0, px1 = max(x0 - overlap, 0), min(x1 + overlap, width)
            sr = model(x[..., py0:py1, px0:px1]).float()
            if sr.shape[-2:] != ((py1 - py0) * s, (px1 - px0) * s):
                raise RuntimeError(f"model output {tuple(sr.shape)} is not {s}x its input tile")
            if out is None:
                out = sr.new_empty((*sr.shape[:-2], height * s, width * s))
            top, left = (y0 - py0) * s, (x0 - px0) * s
            out[..., y0 * s : y1 * s, x0 * s : x1 * s] = sr[
                ..., top : top + (y1 - y0) * s, left : left + (x1 - x0) * s
            ]
    assert out is not None
    return out


def _dihedral(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    x = torch.rot90(x, k, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if flip else x


def _undo_dihedral(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    x = torch.flip(x, dims=(-1,)) if flip else x
    return torch.rot90(x, -k, dims=(-2, -1))


def resolve_tile(
    model: nn.Module, hw: tuple[int, int], tile: int | str | None, max_pixels: int, overlap: int
) -> int | None:
    """The LR tile size that `tile` means for an input of size `hw` (None: whole image)."""
    if tile is None:
        return None
    if tile == "auto":
        s = model.scale
        if hw[0] * hw[1] * s * s <= max_pixels:
            return None
        return max(MIN_TILE, math.isqrt(max_pixels) // s - 2 * overlap)
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise ValueError(f"tile must be None, 'auto' or a positive int (LR pixels), got {tile!r}")
    return tile


@torch.no_grad()
def super_resolve_tensor(
    model: nn.Module,
    x: torch.Tensor,
    *,
    tile: int | str | None = "auto",
    overlap: int | None = None,
    self_ensemble: bool = False,
    autocast: torch.dtype | None = None,
    max_pixels: int = AUTO_MAX_PIXELS,
) -> tuple[torch.Tensor, str]:
    """Run `model` (in eval mode) on an NCHW float tensor in [0, 1]; returns (float32 SR, mode).

    `tile`: None = whole image; an int = LR tile size; "auto" = whole unless the output has more than
    `max_pixels` pixels. `overlap`: LR context pixels per tile side (default `model.receptive_radius`,
    else DEFAULT_OVERLAP). The output is not clamped.
    """
    overlap = int(getattr(model, "receptive_radius", DEFAULT_OVERLAP) if overlap is None else overlap)
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    if autocast is not None and x.device.type != "cuda":
        warnings.warn(
            f"autocast={autocast} is only used on CUDA (bf16 on CPU measured 40-60x slower); running float32 "
            f"on {x.device}",
            stacklevel=3,
        )
        autocast = None
    ctx = torch.autocast(x.device.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()
    was_training = model.training
    model.eval()
    try:
        transforms = [(k, f) for f in (False, True) for k in range(4)] if self_ensemble else [(0, False)]
        total: torch.Tensor | None = None
        tiled = False
        for k, flip in transforms:
            xt = _dihedral(x, k, flip)
            tile_size = resolve_tile(model, (xt.shape[-2], xt.shape[-1]), tile, max_pixels, overlap)
            with ctx:
                sr = model(xt).float() if tile_size is None else _tiled(model, xt, tile_size, overlap)
            tiled = tiled or tile_size is not None
            sr = _undo_dihedral(sr, k, flip)
            total = sr if total is None else total + sr
        assert total is not None
    finally:
        model.train(was_training)
    mode = ("tiled" if tiled else "whole") + ("+x8" if self_ensemble else "")
    return total / len(transforms), mode


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters (or buffers) are; CPU for a model without any."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def super_resolve(
    model: nn.Module,
    lr: np.ndarray,
    device: str | torch.device | None = None,
    *,
    tile: int | str | None = "auto",
    overlap: int | None = None,
    self_ensemble: bool = False,
    autocast: torch.dtype | None = None,
    max_pixels: int = AUTO_MAX_PIXELS,
) -> SRResult:
    """Super-resolve one HxWx3 uint8 RGB image with `model`; the result is (H*s)x(W*s)x3 uint8.

    `device`: where to run (the model is moved there); default: where the model's parameters are. The other
    options are those of `super_resolve_tensor`.
    """
    if not isinstance(lr, np.ndarray) or lr.dtype != np.uint8 or lr.ndim != 3 or lr.shape[2] != 3:
        raise ValueError(
            f"expected an HxWx3 uint8 RGB image, got {getattr(lr, 'dtype', type(lr))} array of shape "
            f"{getattr(lr, 'shape', '?')}"
        )
    if device is not None:
        dev = torch.device(device)
        model.to(dev)
    else:
        dev = model_device(model)
    options = dict(
        tile=tile, overlap=overlap, self_ensemble=self_ensemble, autocast=autocast, max_pixels=max_pixels
    )
    if model.in_channels == 1:
        ycc = rgb2ycbcr(lr.astype(np.float64) / 255.0)
        y = torch.from_numpy(ycc[..., 0].copy()).float()[None, None].to(dev)
        sr_y, mode = super_resolve_tensor(model, y, **options)
        chroma = imresize(ycc[..., 1:], scale=model.scale)
        sr = ycbcr2rgb(np.concatenate([sr_y[0, 0].double().cpu().numpy()[..., None], chroma], axis=2)) * 255.0
    elif model.in_channels == 3:
        x = torch.from_numpy(lr).permute(2, 0, 1).float().div(255.0)[None].to(dev)
        sr_t, mode = super_resolve_tensor(model, x, **options)
        sr = sr_t[0].permute(1, 2, 0).double().cpu().numpy() * 255.0
    else:
        raise ValueError(f"model.in_channels must be 1 (Y) or 3 (RGB), got {model.in_channels}")
    return SRResult(_to_uint8(sr), mode)
