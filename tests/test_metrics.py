"""PSNR/SSIM on Y: scikit-image as the independent reference on the same Y arrays, closed forms, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from srlib.core.color import rgb_to_y
from srlib.core.metrics import PROTOCOL, luma, psnr, psnr_y, shave_border, ssim, ssim_y


def _pair(seed: int = 0, shape=(40, 33, 3), noise: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, size=shape).astype(np.uint8)
    sr = np.clip(hr + rng.normal(0, noise, size=shape), 0, 255).round().astype(np.uint8)
    return sr, hr


@pytest.mark.parametrize("shave", [0, 2, 3, 4])
def test_psnr_matches_scikit_image_on_the_same_y(shave):
    sr, hr = _pair(shave)
    y_sr, y_hr = shave_border(luma(sr), shave), shave_border(luma(hr), shave)
    expected = peak_signal_noise_ratio(y_hr, y_sr, data_range=255)
    assert psnr(sr, hr, shave=shave) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize(("shave", "seed"), [(0, 0), (2, 1), (3, 2), (4, 3)])
def test_ssim_matches_scikit_image_on_the_same_y(shave, seed):
    """skimage with Gaussian weights (sigma 1.5 -> 11x11 window), population covariance and L = 255 averages
    the SSIM map over the positions whose window lies inside the image, i.e. MATLAB's 'valid' window."""
    sr, hr = _pair(seed, noise=30.0)
    y_sr, y_hr = shave_border(luma(sr), shave), shave_border(luma(hr), shave)
    expected = structural_similarity(
        y_sr, y_hr, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert ssim(sr, hr, shave=shave) == pytest.approx(expected, abs=1e-10)


def test_ssim_ignores_what_lies_outside_the_valid_windows():
    """With 'valid' windows, pixels more than 5 px from every kept window centre cannot matter -- but the
    border pixels do count through the windows that contain them (no padding is invented)."""
    a = np.random.default_rng(4).random((30, 30)) * 255
    b = a + np.random.default_rng(5).normal(0, 10, a.shape)
    ref = ssim_y(a, b)
    c = b.copy()
    c[0, 0] += 100
    assert ssim_y(a, c) != ref
    assert ssim_y(a, c) == pytest.approx(ssim_y(a, b), abs=0.01)


def test_psnr_closed_form():
    hr = np.full((20, 20), 100, dtype=np.uint8)
    sr = hr + np.uint8(1)  # gray images: luma is the gray level, error 1 everywhere
    assert psnr(sr, hr, shave=0) == pytest.approx(20 * math.log10(255), abs=1e-12)
    assert psnr_y(np.zeros((3, 3)), np.full((3, 3), 255.0)) == pytest.approx(0.0, abs=1e-12)


def test_identical_images_give_inf_psnr_and_unit_ssim():
    sr, _ = _pair()
    assert psnr(sr, sr.copy(), shave=2) == math.inf
    assert ssim(sr, sr.copy(), shave=2) == pytest.approx(1.0, abs=1e-12)


def test_shave_removes_the_border_from_the_score():
    sr, hr = _pair(6, noise=5.0)
    spoilt = sr.copy()
    spoilt[:3] = 0
    spoilt[:, -3:] = 255
    assert psnr(spoilt, hr, shave=3) == pytest.approx(psnr(sr, hr, shave=3), abs=1e-12)
    assert ssim(spoilt, hr, shave=3) == pytest.approx(ssim(sr, hr, shave=3), abs=1e-12)
    assert psnr(spoilt, hr, shave=2) < psnr(sr, hr, shave=2) - 1


def test_grayscale_reference_is_scored_on_its_gray_level():
    """For R = G = B, Y - 16 = 219/255 * gray: treating a single-channel image as colour would raise its
    PSNR by about 20 log10(255/219) = 1.32 dB (not exactly: Y is rounded)."""
    g_sr, g_hr = _pair(7, shape=(32, 32))
    sr, hr = np.repeat(g_sr[..., None], 3, axis=2), np.repeat(g_hr[..., None], 3, axis=2)
    on_gray = psnr(g_sr, g_hr, shave=2)
    assert psnr(sr, hr, shave=2, grayscale=True) == pytest.approx(on_gray, abs=1e-9)
    assert ssim(sr, hr, shave=2, grayscale=True) == pytest.approx(ssim(g_sr, g_hr, shave=2), abs=1e-12)
    as_colour = psnr(sr, hr, shave=2)
    assert as_colour - on_gray == pytest.approx(20 * math.log10(255 / 219), abs=0.05)


def test_protocol_states_the_choices():
    for key in (
        "Y channel",
        "BT.601",
        "rounded",
        "shaved",
        "11x11",
        "sigma 1.5",
        "K1 0.01",
        "K2 0.03",
        "valid",
    ):
        assert key in PROTOCOL
    assert "single-channel images on their gray levels" in PROTOCOL


def test_luma_is_matlab_rgb2ycbcr_of_uint8():
    """MATLAB returns uint8 Y for uint8 RGB: the exact Y rounded half up (e.g. white 235, black 16)."""
    rng = np.random.default_rng(8)
    img = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
    y = luma(img)
    np.testing.assert_array_equal(y, np.floor(rgb_to_y(img) + 0.5))
    assert np.abs(y - rgb_to_y(img)).max() <= 0.5 and not np.array_equal(y, rgb_to_y(img))
    assert luma(np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8)).tolist() == [[235.0, 16.0]]
    gray = rng.integers(0, 256, size=(5, 6), dtype=np.uint8)
    np.testing.assert_array_equal(luma(np.repeat(gray[..., None], 3, axis=2), grayscale=True), gray)
    np.testing.assert_array_equal(luma(gray), gray)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), 0), "differs"),
        (lambda: psnr(np.zeros((8, 8, 3)), np.zeros((8, 8, 3), np.uint8), 0), "uint8"),
        (lambda: ssim(np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 4), np.uint8), 0), "HxWx3"),
        (lambda: psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), 4), "nothing left"),
        (lambda: psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), -1), "non-negative"),
        (lambda: ssim(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), 3), "window"),
        (lambda: ssim_y(np.zeros((12, 12)), np.zeros((12, 13))), "one shape"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
