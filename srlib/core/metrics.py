"""PSNR and SSIM as the SR literature computes them (the MATLAB evaluation scripts behind its tables).

Both are computed on the Y channel of MATLAB's `rgb2ycbcr` applied to the uint8 images (BT.601, Y in
[16, 235], rounded to integers as MATLAB returns uint8 for uint8 input), with `shave` pixels cut from every
border; a single-channel (grayscale) image is compared on its gray levels, as those scripts convert only
3-channel images. SSIM is Wang et al.'s `ssim_index.m`: an 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
K2 = 0.03, L = 255, statistics over 'valid' window positions only, mean of the SSIM map. The choices and the
measurements behind them (the paper's Bicubic row is reproduced) are in docs/protocol.md.
"""

from __future__ import annotations

import math

import numpy as np

from srlib.core.color import rgb_to_y

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
PEAK = 255.0

PROTOCOL = (
    "PSNR/SSIM on the Y channel (MATLAB rgb2ycbcr of the uint8 images: BT.601, Y in [16, 235], rounded; "
    "single-channel images on their gray levels) with a border of `scale` pixels shaved; SSIM: 11x11 "
    "Gaussian window, sigma 1.5, K1 0.01, K2 0.03, L 255, valid window positions; LR = MATLAB bicubic "
    "imresize (antialiased) of the modcropped uint8 HR"
)


def luma(img: np.ndarray, grayscale: bool = False) -> np.ndarray:
    """The channel the metrics compare, as integer-valued float64: MATLAB `rgb2ycbcr(uint8)`'s Y in [16, 235]
    for a colour image; for a grayscale image (`grayscale=True`, or an HxW array) its gray level in [0, 255].

    With `grayscale=True` an RGB image is mapped by (Y - 16) * 255 / 219, which is exactly the gray level
    when R = G = B (and full-range luma otherwise, e.g. for a colour model's output on a gray input). Values
    are rounded half up, as MATLAB converts to uint8.
    """
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 2:
        return img.astype(np.float64)
    y = rgb_to_y(img)
    if grayscale:
        y = (y - 16.0) * (255.0 / 219.0)
    return np.floor(y + 0.5)


def _y_pair(
    sr: np.ndarray, hr: np.ndarray, shave: int, grayscale: bool, func: str
) -> tuple[np.ndarray, np.ndarray]:
    for label, img in (("sr", sr), ("hr", hr)):
        ok = img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3) if isinstance(img, np.ndarray) else False
        if not ok or img.dtype != np.uint8:
            raise ValueError(
                f"{func}: {label} must be an HxWx3 (RGB) or HxW (gray) uint8 image, got "
                f"{getattr(img, 'dtype', type(img))} of shape {getattr(img, 'shape', '?')}"
            )
    if sr.shape != hr.shape:
        raise ValueError(f"{func}: sr shape {sr.shape} differs from hr shape {hr.shape}")
    y_sr, y_hr = luma(sr, grayscale), luma(hr, grayscale)
    return shave_border(y_sr, shave, func), shave_border(y_hr, shave, func)


def shave_border(img: np.ndarray, shave: int, func: str = "shave_border") -> np.ndarray:
    """Cut `shave` pixels from each border of an HxW[xC] array (the SR convention: shave = scale)."""
    if isinstance(shave, bool) or not isinstance(shave, (int, np.integer)) or shave < 0:
        raise ValueError(f"{func}: shave must be a non-negative integer, got {shave!r}")
    h, w = img.shape[:2]
    if h <= 2 * shave or w <= 2 * shave:
        raise ValueError(f"{func}: a {h}x{w} image has nothing left after shaving {shave} pixels per border")
    return img[shave : h - shave, shave : w - shave] if shave else img


def psnr_y(y_sr: np.ndarray, y_hr: np.ndarray) -> float:
    """PSNR (dB, peak 255) between two equally-shaped float arrays; `inf` when they are identical."""
    mse = float(np.mean((np.asarray(y_sr, np.float64) - np.asarray(y_hr, np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(PEAK * PEAK / mse)


def _gaussian_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """1-D factor of MATLAB `fspecial('gaussian', size, sigma)` (the 2-D window is its outer product)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """`filter2(g' * g, img, 'valid')` for a symmetric separable window, as len(g) shifted sums per axis."""
    n = g.size
    h, w = img.shape
    rows = sum(g[k] * img[k : h - n + 1 + k, :] for k in range(n))
    return sum(g[k] * rows[:, k : w - n + 1 + k] for k in range(n))


def ssim_y(y_sr: np.ndarray, y_hr: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004, `ssim_index.m`) of two equally-shaped 2-D arrays on the 0..255 scale."""
    a, b = np.asarray(y_sr, np.float64), np.asarray(y_hr, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim_y: expected two 2-D arrays of one shape, got {a.shape} and {b.shape}")
    if min(a.shape) < SSIM_WINDOW:
        raise ValueError(f"ssim_y: {a.shape[0]}x{a.shape[1]} is smaller than the {SSIM_WINDOW}-pixel window")
    g = _gaussian_1d()
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a * mu_a
    var_b = _filter_valid(b * b, g) - mu_b * mu_b
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    ssim_map = ((2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)) / (
        (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    )
    return float(ssim_map.mean())


def ssim_matlab_y(y_sr: np.ndarray, y_hr: np.ndarray) -> float:
    """Mean SSIM as MATLAB's built-in `ssim` computes it (LapSRN's published SSIM): the same Gaussian window
    (11x11, sigma 1.5) and constants, but the statistics are filtered with replicate padding ('same' size)
    and the whole map is averaged, borders included. 2-D arrays on the 0..255 scale."""
    a, b = np.asarray(y_sr, np.float64), np.asarray(y_hr, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim_matlab_y: expected two 2-D arrays of one shape, got {a.shape} and {b.shape}")
    g = _gaussian_1d()
    r = SSIM_WINDOW // 2

    def filt(x: np.ndarray) -> np.ndarray:
        return _filter_valid(np.pad(x, r, mode="edge"), g)

    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a * mu_a
    var_b = filt(b * b) - mu_b * mu_b
    cov = filt(a * b) - mu_a * mu_b
    ssim_map = ((2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)) / (
        (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    )
    return float(ssim_map.mean())


def psnr(sr: np.ndarray, hr: np.ndarray, shave: int, grayscale: bool = False) -> float:
    """PSNR (dB) on `luma` of two uint8 images after shaving `shave` border pixels; `inf` when they agree.

    `grayscale`: the reference is a single-channel image (see `luma`).
    """
    y_sr, y_hr = _y_pair(sr, hr, shave, grayscale, "psnr")
    return psnr_y(y_sr, y_hr)


def ssim(sr: np.ndarray, hr: np.ndarray, shave: int, grayscale: bool = False) -> float:
    """SSIM on `luma` of two uint8 images after shaving `shave` border pixels (1.0 when they agree)."""
    y_sr, y_hr = _y_pair(sr, hr, shave, grayscale, "ssim")
    return ssim_y(y_sr, y_hr)
