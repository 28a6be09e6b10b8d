"""MATLAB rgb2ycbcr / ycbcr2rgb: known values, scikit-image as an independent reference, exact round trip."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2ycbcr as sk_rgb2ycbcr

from srlib.core.color import rgb2ycbcr, rgb_to_y, ycbcr2rgb


@pytest.mark.parametrize(
    ("rgb", "ycbcr_255"),
    [
        ((0, 0, 0), (16, 128, 128)),
        ((1, 1, 1), (235, 128, 128)),
        ((1, 0, 0), (16 + 65.481, 128 - 37.797, 240)),
        ((0, 1, 0), (16 + 128.553, 128 - 74.203, 128 - 93.786)),
        ((0, 0, 1), (16 + 24.966, 240, 128 - 18.214)),
    ],
)
def test_known_values(rgb, ycbcr_255):
    out = rgb2ycbcr(np.array([[rgb]], dtype=np.float64))
    np.testing.assert_allclose(out[0, 0] * 255, ycbcr_255, atol=1e-12)


def test_matches_scikit_image():
    img = np.random.default_rng(0).random((9, 7, 3))
    np.testing.assert_allclose(rgb2ycbcr(img) * 255, sk_rgb2ycbcr(img), atol=1e-10)


def test_round_trip_is_exact_and_unclipped():
    rng = np.random.default_rng(1)
    img = rng.random((6, 5, 3))
    np.testing.assert_allclose(ycbcr2rgb(rgb2ycbcr(img)), img, atol=1e-12)
    ycc = rng.random((4, 4, 3))  # includes YCbCr outside the RGB gamut
    np.testing.assert_allclose(rgb2ycbcr(ycbcr2rgb(ycc)), ycc, atol=1e-12)
    assert ycbcr2rgb(ycc).min() < 0 or ycbcr2rgb(ycc).max() > 1


def test_any_leading_shape_and_float32():
    img = np.random.default_rng(2).random((2, 3, 4, 3)).astype(np.float32)
    out = rgb2ycbcr(img)
    assert out.shape == img.shape and out.dtype == np.float64
    np.testing.assert_allclose(out[1, 2], rgb2ycbcr(img[1, 2].astype(np.float64)), atol=1e-12)


def test_rgb_to_y_of_uint8():
    img = np.random.default_rng(3).integers(0, 256, size=(8, 9, 3), dtype=np.uint8)
    y = rgb_to_y(img)
    assert y.dtype == np.float64 and y.shape == (8, 9)
    np.testing.assert_allclose(y, rgb2ycbcr(img / 255.0)[..., 0] * 255, atol=1e-10)
    assert rgb_to_y(np.zeros((1, 1, 3), np.uint8))[0, 0] == pytest.approx(16)
    assert rgb_to_y(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235)
    assert not np.allclose(y, np.round(y))  # not rounded


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rgb2ycbcr(np.zeros((4, 4, 3), dtype=np.uint8)), "float"),
        (lambda: rgb2ycbcr(np.zeros((4, 4, 4))), "x3"),
        (lambda: ycbcr2rgb(np.zeros((4, 4))), "x3"),
        (lambda: rgb_to_y(np.zeros((4, 4, 3))), "uint8"),
        (lambda: rgb_to_y(np.zeros((4, 4), dtype=np.uint8)), "HxWx3"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
