"""MATLAB `rgb2ycbcr` / `ycbcr2rgb` (ITU-R BT.601, "studio swing": Y in [16, 235], Cb/Cr in [16, 240]).

SR papers report PSNR/SSIM on the Y channel of exactly this conversion (not JPEG's full-range YCbCr), and
Y-only models are trained on it, so every Y in srlib comes from here.
"""

from __future__ import annotations

import numpy as np

# MATLAB's matrix for RGB in [0, 1] -> YCbCr in [0, 255]; offsets added on the 0..255 scale.
_RGB_TO_YCBCR = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
_OFFSET = np.array([16.0, 128.0, 128.0])
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def _check_float3(func: str, img: np.ndarray) -> np.ndarray:
    if not isinstance(img, np.ndarray) or img.ndim < 1 or img.shape[-1] != 3:
        raise ValueError(f"{func}: expected an ...x3 array, got shape {getattr(img, 'shape', type(img))}")
    if not np.issubdtype(img.dtype, np.floating):
        raise ValueError(
            f"{func}: expected a float image in [0, 1], got {img.dtype} "
            "(divide uint8 by 255 first, or use rgb_to_y for uint8 images)"
        )
    return img.astype(np.float64, copy=False)


def rgb2ycbcr(img: np.ndarray) -> np.ndarray:
    """MATLAB `rgb2ycbcr` for double input: RGB in [0, 1] (last axis) -> YCbCr in [0, 1] (Y in [16, 235]/255).

    The result is float64 and not rounded (MATLAB rounds only for integer input).
    """
    rgb = _check_float3("rgb2ycbcr", img)
    return (rgb @ _RGB_TO_YCBCR.T + _OFFSET) / 255.0


def ycbcr2rgb(img: np.ndarray) -> np.ndarray:
    """Exact inverse of `rgb2ycbcr`: YCbCr in [0, 1] -> RGB in [0, 1] (float64, not clipped: callers that
    convert to uint8 clip there, and an unclipped result keeps the round trip exact)."""
    ycc = _check_float3("ycbcr2rgb", img)
    return (ycc * 255.0 - _OFFSET) @ _YCBCR_TO_RGB.T


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y (float64 in [16, 235], not rounded) of a uint8 HxWx3 RGB image: the channel PSNR/SSIM use.

    A grayscale image is RGB with R = G = B (srlib.data.images.load_image replicates it), so its Y is
    16 + 219/255 * gray, the same formula as for colour images; see docs/protocol.md for why.
    """
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"rgb_to_y: expected an HxWx3 uint8 RGB image, got {getattr(img, 'dtype', type(img))} "
            f"of shape {getattr(img, 'shape', '?')}"
        )
    return img.astype(np.float64) @ (_RGB_TO_YCBCR[0] / 255.0) + _OFFSET[0]
