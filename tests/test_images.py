"""`load_image` / `load_image_with_alpha` / `check_min_size`: one test per kind of input, on small images
generated in tmp_path."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from srlib.data.images import (
    ImageError,
    ImageTooSmallError,
    check_min_size,
    load_image,
    load_image_with_alpha,
)

RNG = np.random.default_rng(1234)


def rand(*shape: int, high: int = 256, dtype=np.uint8) -> np.ndarray:
    return RNG.integers(0, high, shape).astype(dtype)


def round257(v: np.ndarray) -> np.ndarray:
    """The documented 16 -> 8 bit rule, computed independently in floating point."""
    return np.round(v.astype(np.float64) / 257.0).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _filtered_rows(samples: np.ndarray) -> bytes:
    """PNG scanlines of 16-bit `samples` (H x W x C), cycling through all five row filters."""
    h, w = samples.shape[:2]
    raw = samples.astype(">u2").tobytes()
    stride = len(raw) // h
    bpp = stride // w
    out, prev = bytearray(), bytes(stride)
    for y in range(h):
        row, kind = raw[y * stride : (y + 1) * stride], y % 5
        filtered = bytearray(stride)
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            filtered[i] = (row[i] - predictor) & 0xFF
        out += bytes([kind]) + filtered
        prev = row
    return bytes(out)


def write_png16(path: Path, samples: np.ndarray, color_type: int, interlace: bool = False) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour), using all five PNG row filters so the
    decoder's unfiltering is exercised; optionally Adam7-interlaced. color_type: 0 gray, 2 RGB, 4 gray+alpha,
    6 RGBA."""
    if samples.ndim == 2:
        samples = samples[..., None]
    h, w = samples.shape[:2]
    if interlace:
        passes = [samples[y0::dy, x0::dx] for x0, y0, dx, dy in ADAM7]
        out = b"".join(_filtered_rows(p) for p in passes if p.size)
    else:
        out = _filtered_rows(samples)
    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, int(interlace))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(out)))
        + _chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------------------------- plain cases


def test_rgb_png_exact(tmp_path: Path):
    a = rand(7, 9, 3)
    Image.fromarray(a, "RGB").save(tmp_path / "x.png")
    out = load_image(tmp_path / "x.png")
    assert out.dtype == np.uint8 and out.shape == (7, 9, 3)
    np.testing.assert_array_equal(out, a)


def test_bmp_and_str_path(tmp_path: Path):
    a = rand(5, 6, 3)
    Image.fromarray(a, "RGB").save(tmp_path / "x.bmp")
    np.testing.assert_array_equal(load_image(str(tmp_path / "x.bmp")), a)


def test_grayscale_replicated(tmp_path: Path):
    g = rand(6, 4)
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (6, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g)


def test_bilevel_is_0_or_255(tmp_path: Path):
    bits = rand(5, 8, high=2).astype(bool)
    Image.fromarray(bits).convert("1").save(tmp_path / "b.png")
    out = load_image(tmp_path / "b.png")
    np.testing.assert_array_equal(out[..., 1], np.where(bits, 255, 0))


def test_palette_expanded(tmp_path: Path):
    a = rand(8, 8, 3)
    pal = Image.fromarray(a, "RGB").quantize(colors=16)
    pal.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    np.testing.assert_array_equal(load_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))


def test_palette_with_transparency_refused_but_alpha_available(tmp_path: Path):
    pal = Image.fromarray(rand(4, 4, 3), "RGB").quantize(colors=4)
    index = np.asarray(pal)[0, 0]
    pal.save(tmp_path / "t.png", transparency=int(index))
    with pytest.raises(ImageError, match=r"t\.png.*not fully opaque"):
        load_image(tmp_path / "t.png")
    rgb, alpha = load_image_with_alpha(tmp_path / "t.png")
    assert rgb.shape == (4, 4, 3) and alpha is not None and alpha[0, 0] == 0
    np.testing.assert_array_equal(alpha == 0, np.asarray(pal) == index)


def test_rgba_opaque_alpha_dropped(tmp_path: Path):
    a = rand(5, 5, 3)
    rgba = np.dstack([a, np.full((5, 5), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "o.png")
    np.testing.assert_array_equal(load_image(tmp_path / "o.png"), a)
    rgb, alpha = load_image_with_alpha(tmp_path / "o.png")  # the alpha channel is still reported
    np.testing.assert_array_equal(rgb, a)
    assert alpha is not None and (alpha == 255).all()


def test_rgba_transparent_refused_with_alpha_variant(tmp_path: Path):
    a = rand(5, 5, 3)
    alpha = np.full((5, 5), 255, np.uint8)
    alpha[2, 3] = 10
    Image.fromarray(np.dstack([a, alpha]), "RGBA").save(tmp_path / "a.png")
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / "a.png")
    assert "a.png" in str(info.value) and "1 of 25 pixels" in str(info.value)
    rgb, got = load_image_with_alpha(tmp_path / "a.png")
    np.testing.assert_array_equal(rgb, a)
    np.testing.assert_array_equal(got, alpha)


def test_gray_alpha(tmp_path: Path):
    g = rand(4, 6)
    Image.fromarray(np.dstack([g, np.full_like(g, 255)]), "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(load_image(tmp_path / "la.png")[..., 2], g)
    Image.fromarray(np.dstack([g, np.zeros_like(g)]), "LA").save(tmp_path / "la0.png")
    with pytest.raises(ImageError):
        load_image(tmp_path / "la0.png")


def test_rgb_without_alpha_has_no_alpha(tmp_path: Path):
    Image.fromarray(rand(3, 3, 3), "RGB").save(tmp_path / "x.png")
    assert load_image_with_alpha(tmp_path / "x.png")[1] is None


def test_cmyk_jpeg_converted(tmp_path: Path):
    Image.fromarray(rand(8, 8, 3), "RGB").convert("CMYK").save(tmp_path / "c.jpg")
    out = load_image(tmp_path / "c.jpg")
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8


def test_animated_gif_first_frame(tmp_path: Path):
    frames = [Image.fromarray(np.full((4, 4, 3), v, np.uint8), "RGB") for v in (10, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    out = load_image(tmp_path / "anim.gif")
    assert out.shape == (4, 4, 3) and abs(int(out[0, 0, 0]) - 10) <= 2


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(tmp_path: Path, orientation: int):
    a = rand(4, 7, 3)
    im = Image.fromarray(a, "RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(tmp_path / "o.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")).convert("RGB"))
    np.testing.assert_array_equal(load_image(tmp_path / "o.png"), expected)
    if orientation >= 5:
        assert expected.shape == (7, 4, 3)


# --------------------------------------------------------------------------------------------- 16 bit


def test_round257_rule_on_16bit_gray(tmp_path: Path):
    v = np.array([[0, 128, 129, 385, 386, 32767, 32896, 65406, 65407, 65535]], dtype=np.uint16)
    Image.fromarray(v).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    out = load_image(tmp_path / "g16.png")
    assert out[0, :, 0].tolist() == [0, 0, 1, 1, 2, 127, 128, 254, 255, 255]
    np.testing.assert_array_equal(out[..., 0], round257(v))
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_8bit_data_stored_as_16bit_round_trips(tmp_path: Path):
    a = rand(5, 5, 3)
    write_png16(tmp_path / "x.png", a.astype(np.uint16) * 257, color_type=2)
    np.testing.assert_array_equal(load_image(tmp_path / "x.png"), a)


def test_16bit_rgb_png_exact(tmp_path: Path):
    v = rand(11, 13, 3, high=65536, dtype=np.uint16)
    write_png16(tmp_path / "rgb16.png", v, color_type=2)
    out = load_image(tmp_path / "rgb16.png")
    np.testing.assert_array_equal(out, round257(v))
    pillow_high_byte = np.asarray(Image.open(tmp_path / "rgb16.png").convert("RGB"))
    assert (pillow_high_byte != out).any()  # the exact decoding matters


@pytest.mark.parametrize("color_type", [2, 4, 6])
def test_16bit_interlaced_png(tmp_path: Path, color_type: int):
    channels = {2: 3, 4: 2, 6: 4}[color_type]
    v = rand(13, 11, channels, high=65536, dtype=np.uint16)
    write_png16(tmp_path / "adam7.png", v, color_type=color_type, interlace=True)
    assert Image.open(tmp_path / "adam7.png").info.get("interlace")
    rgb, alpha = load_image_with_alpha(tmp_path / "adam7.png")
    gray = color_type == 4
    np.testing.assert_array_equal(
        rgb, np.repeat(round257(v[..., :1]), 3, axis=2) if gray else round257(v[..., :3])
    )
    if color_type != 2:
        np.testing.assert_array_equal(alpha, round257(v[..., -1]))


def test_16bit_rgba_png(tmp_path: Path):
    v = rand(6, 5, 4, high=65536, dtype=np.uint16)
    write_png16(tmp_path / "rgba16.png", v, color_type=6)
    rgb, alpha = load_image_with_alpha(tmp_path / "rgba16.png")
    np.testing.assert_array_equal(rgb, round257(v[..., :3]))
    np.testing.assert_array_equal(alpha, round257(v[..., 3]))
    v[..., 3] = 65535
    write_png16(tmp_path / "opaque16.png", v, color_type=6)
    np.testing.assert_array_equal(load_image(tmp_path / "opaque16.png"), round257(v[..., :3]))


def test_16bit_gray_alpha_png(tmp_path: Path):
    v = rand(5, 7, 2, high=65536, dtype=np.uint16)
    write_png16(tmp_path / "la16.png", v, color_type=4)
    rgb, alpha = load_image_with_alpha(tmp_path / "la16.png")
    np.testing.assert_array_equal(rgb, np.repeat(round257(v[..., :1]), 3, axis=2))
    np.testing.assert_array_equal(alpha, round257(v[..., 1]))


def test_16bit_gray_png_by_hand(tmp_path: Path):
    v = rand(6, 6, high=65536, dtype=np.uint16)
    write_png16(tmp_path / "g.png", v, color_type=0)
    np.testing.assert_array_equal(load_image(tmp_path / "g.png")[..., 1], round257(v))


def test_32bit_int_tiff(tmp_path: Path):
    v = np.array([[0, 300, 65535]], dtype=np.int32)
    Image.fromarray(v, "I").save(tmp_path / "i.tif")
    np.testing.assert_array_equal(load_image(tmp_path / "i.tif")[..., 0], round257(v))
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32), "I").save(tmp_path / "big.tif")
    with pytest.raises(ImageError, match=r"big\.tif.*outside 0\.\.65535"):
        load_image(tmp_path / "big.tif")


def test_float_image_refused(tmp_path: Path):
    Image.fromarray(np.zeros((3, 3), np.float32), "F").save(tmp_path / "f.tif")
    with pytest.raises(ImageError, match=r"f\.tif.*float"):
        load_image(tmp_path / "f.tif")


# --------------------------------------------------------------------------------------------- bad files


def test_not_an_image(tmp_path: Path):
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    with pytest.raises(ImageError, match=r"notes\.png.*not an image"):
        load_image(tmp_path / "notes.png")


def test_empty_file(tmp_path: Path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png"):
        load_image(tmp_path / "empty.png")


def test_missing_file(tmp_path: Path):
    with pytest.raises(ImageError, match=r"nope\.png.*no such file"):
        load_image(tmp_path / "nope.png")


def test_directory(tmp_path: Path):
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_unreadable_file(tmp_path: Path):
    import os

    path = tmp_path / "locked.png"
    Image.fromarray(rand(3, 3, 3), "RGB").save(path)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: permissions do not stop reading")
        with pytest.raises(ImageError, match=r"locked\.png"):
            load_image(path)
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("fmt", ["png", "jpg", "bmp"])
def test_truncated_file(tmp_path: Path, fmt: str):
    path = tmp_path / f"cut.{fmt}"
    Image.fromarray(rand(64, 64, 3), "RGB").save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=rf"cut\.{fmt}"):
        load_image(path)


def test_zero_size_png(tmp_path: Path):
    header = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    (tmp_path / "zero.png").write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b""))
        + _chunk(b"IEND", b"")
    )
    with pytest.raises(ImageError, match=r"zero\.png.*zero size \(0 x 5\)"):
        load_image(tmp_path / "zero.png")


def test_image_error_is_a_value_error():
    assert issubclass(ImageError, ValueError) and issubclass(ImageTooSmallError, ImageError)


# --------------------------------------------------------------------------------------------- min size


def test_check_min_size():
    img = np.zeros((40, 50, 3), np.uint8)
    check_min_size(img, 40)
    check_min_size(img, (40, 50))
    with pytest.raises(ImageTooSmallError, match=r"small\.png: image is 40 x 50.*48 x 48"):
        check_min_size(img, 48, "small.png")
    with pytest.raises(ImageTooSmallError, match="40 x 51"):
        check_min_size(img, (40, 51))


def test_read_error_named(tmp_path: Path, monkeypatch):
    """An OSError while opening (e.g. permission denied, as a non-root user sees it) becomes ImageError."""
    import srlib.data.images as images

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(images.Image, "open", denied)
    with pytest.raises(ImageError, match=r"secret\.png: cannot read.*Permission denied"):
        load_image(tmp_path / "secret.png")
