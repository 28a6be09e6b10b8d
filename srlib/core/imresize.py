"""MATLAB-compatible bicubic `imresize`, `modcrop` and the HR -> LR degradation of the SR literature.

Every published bicubic baseline and every LR test image was made with MATLAB's `imresize(img, 1/s,
'bicubic')`: a cubic kernel with a = -0.5, widened by 1/scale when downscaling (antialiasing), symmetric
(mirror) borders, output size ceil(in * scale), one axis at a time starting with the axis of the smaller
scale. Other resizers differ (OpenCV and torch: a = -0.75, no antialiasing by default; PIL: borders clamped,
not mirrored; sizes rounded differently), which moves PSNR, so this module re-implements it.

Each axis is resized with precomputed (indices, weights) taps, never a loop over pixels: numpy applies them
as blocks of gathered rows summed in tap order (float64, as MATLAB), torch as a dense matrix product or
gathered rows (differentiable, any device).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TypeVar, overload

import numpy as np
import torch

_KERNEL_WIDTH = 4.0  # support of the cubic kernel, in input pixels at scale 1
_BLOCK_BYTES = 1 << 19  # numpy path: output rows are computed in blocks of about this size (cache-resident)
_DENSE_MAX_RATIO = 64  # torch on CPU: dense matrix product when in_len <= this * taps (measured break-even)

ScaleArg = float | Sequence[float] | None
ShapeArg = Sequence[int] | None
_Array = TypeVar("_Array", np.ndarray, torch.Tensor)


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's `cubic`)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1.0)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1.0) & (ax <= 2.0))
    return inner + outer


@functools.lru_cache(maxsize=256)
def _taps(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Input indices and weights (both out_len x P) of MATLAB's `contributions` for one axis.

    Output pixel x (1-based) sits at input coordinate u = x/scale + (1 - 1/scale)/2; when downscaling the
    kernel is stretched by 1/scale (and scaled by `scale`) so that it low-pass filters. Out-of-range indices
    are mirrored symmetrically (..., 2, 1, 1, 2, ..., n, n, n-1, ...), rows are normalised to sum to one and
    taps that are zero for every output pixel are dropped, exactly as MATLAB does.
    """
    width = _KERNEL_WIDTH / scale if scale < 1 else _KERNEL_WIDTH
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    n_taps = math.ceil(width) + 2
    idx = left[:, None] + np.arange(n_taps, dtype=np.float64)[None, :]  # 1-based, may be out of range
    dist = u[:, None] - idx
    weights = scale * _cubic(scale * dist) if scale < 1 else _cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    indices = mirror[np.mod(idx.astype(np.int64) - 1, mirror.size)]
    keep = np.any(weights != 0, axis=0)
    indices, weights = np.ascontiguousarray(indices[:, keep]), np.ascontiguousarray(weights[:, keep])
    indices.setflags(write=False)
    weights.setflags(write=False)
    return indices, weights


def _plan(
    in_hw: tuple[int, int], scale: ScaleArg, output_shape: ShapeArg
) -> tuple[tuple[int, int], tuple[float, float]]:
    """Output size and per-axis scale, following MATLAB's rules for the 'Scale' / output-size arguments."""
    if in_hw[0] <= 0 or in_hw[1] <= 0:
        raise ValueError(f"imresize: cannot resize an empty image of size {in_hw[0]}x{in_hw[1]}")
    if (scale is None) == (output_shape is None):
        raise ValueError("imresize: give exactly one of `scale` and `output_shape`")
    if scale is not None:
        pair = (scale, scale) if np.isscalar(scale) else tuple(scale)  # type: ignore[arg-type]
        if len(pair) != 2:
            raise ValueError(f"imresize: scale must be a number or a (rows, cols) pair, got {scale!r}")
        scales = (float(pair[0]), float(pair[1]))
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise ValueError(f"imresize: scale must be positive and finite, got {scale!r}")
        return (math.ceil(in_hw[0] * scales[0]), math.ceil(in_hw[1] * scales[1])), scales
    shape = tuple(output_shape)  # type: ignore[arg-type]
    if len(shape) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in shape):
        raise ValueError(f"imresize: output_shape must be two positive integers, got {output_shape!r}")
    out = (int(shape[0]), int(shape[1]))
    return out, (out[0] / in_hw[0], out[1] / in_hw[1])


def _axis_order(scales: tuple[float, float]) -> tuple[int, int]:
    """MATLAB resizes the axis with the smaller scale first (a stable sort: rows first on ties)."""
    return (1, 0) if scales[1] < scales[0] else (0, 1)


def _resize_rows_np(x: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Resize axis 0 of a C-contiguous 2-D float64 array: out[i] = sum_p w[i, p] * x[idx[i, p]], summed in tap
    order as MATLAB's imresizemex does. Works on blocks of output rows that stay in cache."""
    n_out, n_taps = indices.shape
    out = np.empty((n_out, x.shape[1]))
    block = max(1, _BLOCK_BYTES // (8 * max(1, x.shape[1])))
    buf = np.empty((min(block, n_out), x.shape[1]))
    for start in range(0, n_out, block):
        stop = min(start + block, n_out)
        acc, tmp = out[start:stop], buf[: stop - start]
        np.take(x, indices[start:stop, 0], axis=0, out=acc, mode="clip")
        acc *= weights[start:stop, 0, None]
        for p in range(1, n_taps):
            np.take(x, indices[start:stop, p], axis=0, out=tmp, mode="clip")
            tmp *= weights[start:stop, p, None]
            acc += tmp
    return out


def _resize_axis_np(x: np.ndarray, axis: int, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Resize one axis of a float64 array: that axis is moved first so that every tap gathers whole rows."""
    moved = np.ascontiguousarray(np.moveaxis(x, axis, 0))
    out = _resize_rows_np(moved.reshape(moved.shape[0], -1), indices, weights)
    return np.moveaxis(out.reshape(indices.shape[0], *moved.shape[1:]), 0, axis)


def _resize_axis_torch(x: torch.Tensor, dim: int, indices: np.ndarray, weights: np.ndarray) -> torch.Tensor:
    """Resize one dim of a tensor, differentiably: a dense (out x in) matrix product where that is cheap (on
    accelerators, or when the axis is short relative to the taps; BLAS then beats gathers), else gathers of
    whole rows with fused multiply-adds."""
    n_out, n_taps = indices.shape
    n_in = x.shape[dim]
    if x.device.type != "cpu" or n_in <= _DENSE_MAX_RATIO * n_taps:
        matrix = np.zeros((n_out, n_in))
        np.add.at(matrix, (np.repeat(np.arange(n_out), n_taps), indices.ravel()), weights.ravel())
        out = torch.tensor(matrix, device=x.device, dtype=x.dtype) @ x.movedim(dim, -2)
        return out.movedim(-2, dim)
    rows = x.movedim(dim, 0).contiguous()
    idx = torch.tensor(indices, device=x.device)
    w = torch.tensor(weights, device=x.device, dtype=x.dtype).reshape(n_out, n_taps, *([1] * (rows.ndim - 1)))
    out = rows.index_select(0, idx[:, 0]) * w[:, 0]
    for p in range(1, n_taps):
        out = torch.addcmul(out, rows.index_select(0, idx[:, p]), w[:, p])
    return out.movedim(0, dim)


def _round_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB's conversion of a computed value to uint8: saturate, then round half away from zero."""
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def _as_float_image(img: np.ndarray) -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise ValueError(f"imresize: expected a numpy array or a torch tensor, got {type(img).__name__}")
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize: expected an HxW or HxWxC array, got shape {img.shape}")
    real = np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)
    if not (real or img.dtype == np.bool_):
        raise ValueError(f"imresize: unsupported dtype {img.dtype}; expected a real-valued image")
    return img.astype(np.float64, copy=False)


@overload
def imresize(img: np.ndarray, scale: ScaleArg = None, output_shape: ShapeArg = None) -> np.ndarray: ...
@overload
def imresize(img: torch.Tensor, scale: ScaleArg = None, output_shape: ShapeArg = None) -> torch.Tensor: ...
def imresize(img: _Array, scale: ScaleArg = None, output_shape: ShapeArg = None) -> _Array:
    """MATLAB `imresize(img, scale)` / `imresize(img, [rows cols])` with the default bicubic method.

    - numpy: an HxW or HxWxC array of any real dtype; returns float64 (values NOT rounded or clipped, as
      MATLAB does for double input). For MATLAB's uint8 behaviour use `imresize_uint8`.
    - torch: a floating tensor whose last two dims are (H, W); returns the same dtype on the same device,
      differentiable with respect to `img`.

    `scale` is a positive number or a (rows, cols) pair (output size ceil(in * scale)); `output_shape` is
    (rows, cols). Give exactly one.
    """
    if isinstance(img, torch.Tensor):
        if img.ndim < 2 or not img.is_floating_point():
            raise ValueError(
                f"imresize: expected a floating tensor with >= 2 dims, got {img.dtype} {tuple(img.shape)}"
            )
        out_hw, scales = _plan((img.shape[-2], img.shape[-1]), scale, output_shape)
        out = img
        for axis in _axis_order(scales):
            indices, weights = _taps(img.shape[-2 + axis], out_hw[axis], scales[axis])
            out = _resize_axis_torch(out, img.ndim - 2 + axis, indices, weights)
        return out
    arr = _as_float_image(img)
    out_hw, scales = _plan(arr.shape[:2], scale, output_shape)
    out_np = arr
    for axis in _axis_order(scales):
        indices, weights = _taps(arr.shape[axis], out_hw[axis], scales[axis])
        out_np = _resize_axis_np(out_np, axis, indices, weights)
    return np.ascontiguousarray(out_np)


def imresize_uint8(img: np.ndarray, scale: ScaleArg = None, output_shape: ShapeArg = None) -> np.ndarray:
    """MATLAB `imresize` on a uint8 image: uint8 out, and -- like MATLAB's typed `imresizemex` -- the
    intermediate image between the two axis passes is itself saturated and rounded to uint8."""
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(
            f"imresize_uint8: expected an HxW or HxWxC uint8 array, got {getattr(img, 'dtype', type(img))} "
            f"of shape {getattr(img, 'shape', '?')}"
        )
    out_hw, scales = _plan(img.shape[:2], scale, output_shape)
    out = img
    for axis in _axis_order(scales):
        indices, weights = _taps(img.shape[axis], out_hw[axis], scales[axis])
        out = _round_uint8(_resize_axis_np(out.astype(np.float64), axis, indices, weights))
    return np.ascontiguousarray(out)


def _check_scale(func: str, scale: int) -> None:
    if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f"{func}: scale must be a positive integer, got {scale!r}")


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right of an HxW[xC] image so H and W are multiples of `scale` (MATLAB `modcrop`)."""
    _check_scale("modcrop", scale)
    if img.ndim not in (2, 3):
        raise ValueError(f"modcrop: expected an HxW or HxWxC array, got shape {img.shape}")
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    if h == 0 or w == 0:
        raise ValueError(f"modcrop: image size {img.shape[0]}x{img.shape[1]} is smaller than scale {scale}")
    return img[:h, :w]


def degrade(hr: np.ndarray, scale: int) -> np.ndarray:
    """The LR image of the SR benchmarks: MATLAB `imresize(hr_uint8, 1/scale, 'bicubic')`, uint8 out.

    `hr` must be uint8 with H and W multiples of `scale` (use `modcrop` first), so that upscaling the result
    by `scale` gives back HR's size. Rounding follows MATLAB on uint8 (see `imresize_uint8`).
    """
    _check_scale("degrade", scale)
    if not isinstance(hr, np.ndarray) or hr.dtype != np.uint8 or hr.ndim not in (2, 3):
        raise ValueError(
            f"degrade: expected an HxW or HxWxC uint8 image, got {getattr(hr, 'dtype', type(hr))} "
            f"of shape {getattr(hr, 'shape', '?')}"
        )
    if hr.shape[0] == 0 or hr.shape[1] == 0:
        raise ValueError(f"degrade: empty image of shape {hr.shape}")
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise ValueError(
            f"degrade: image size {hr.shape[0]}x{hr.shape[1]} is not a multiple of scale {scale}; "
            "apply modcrop(hr, scale) first"
        )
    return imresize_uint8(hr, scale=1.0 / scale)
