"""Decoding image files into the one array type srlib works with: `uint8` RGB, `H x W x 3`.

`load_image(path)` accepts what benchmark sets and users throw at it and converts, or refuses with an
`ImageError` that names the file. The rules (also in docs/data.md):

- RGB: as is.
- L (8-bit gray), 1 (bilevel): gray replicated to 3 channels (bilevel: 0 / 255).
- I;16 (16-bit gray PNG / TIFF), I (32-bit integer, must lie in 0..65535): v -> round(v / 257), replicated.
- 16-bit RGB, RGBA and gray+alpha PNG: the exact 16-bit samples are decoded (Pillow alone keeps only the high
  byte, floor(v / 256)), then round(v / 257). Other 16-bit colour formats (e.g. TIFF): Pillow's 8-bit values.
- P (palette), PA: expanded through the palette.
- Transparency (RGBA, LA, PA, La, RGBa, palette transparency, a tRNS colour key): if every pixel is fully
  opaque the alpha is dropped; otherwise `load_image` raises ImageError (a transparent pixel has no defined
  RGB to super-resolve or score); `load_image_with_alpha` returns the alpha separately.
- CMYK, YCbCr, RGBX, LAB, HSV: Pillow's conversion to RGB (no ICC colour management); a mode Pillow cannot
  convert raises ImageError.
- F (32-bit float): ImageError (no defined value range).
- EXIF orientation tag: applied, so the array is what an image viewer shows (benchmark PNGs have none).
- Animated / multi-page files: the first frame.
- Not an image, unreadable, truncated, zero width or height: ImageError naming the file.

Why round(v / 257): it maps 0..65535 onto 0..255 with both ends fixed (65535 -> 255) and is the nearest 8-bit
value, the inverse of the usual 8 -> 16 bit expansion v * 257 (so 8-bit data stored as 16 bits round-trips
exactly). In integers: (2 v + 257) // 514 (v / 257 never lies exactly halfway between integers).

Truncated files are refused as long as `PIL.ImageFile.LOAD_TRUNCATED_IMAGES` is False (Pillow's default);
srlib never sets it.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

PathLike = str | os.PathLike[str]

# 16-bit PNG layouts whose samples Pillow reduces to their high byte, and the raw modes that recover the low
# byte with the same bits per pixel (the PNG unfiltering depends on it): (mode, rawmode) -> low-byte rawmode.
_PNG16_LOW_BYTE: dict[tuple[str, str], str] = {
    ("RGB", "RGB;16B"): "RGB;16L",
    ("RGBA", "RGBA;16B"): "RGBA;16L",
}


class ImageError(ValueError):
    """An image file that cannot be used: the message names the file and the reason."""


class ImageTooSmallError(ImageError):
    """An image smaller than required (e.g. than a training patch)."""


def _u16_to_u8(v: np.ndarray) -> np.ndarray:
    """round(v / 257) for 0 <= v <= 65535, in integer arithmetic."""
    return ((v.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)


def _png_header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None when `path` does not start like a PNG."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _open(path: Path) -> Image.Image:
    try:
        im = Image.open(path)
    except FileNotFoundError as e:
        raise ImageError(f"{path}: no such file") from e
    except IsADirectoryError as e:
        raise ImageError(f"{path}: is a directory, not an image file") from e
    except Image.UnidentifiedImageError as e:
        size = _png_header_size(path)
        if size is not None and 0 in size:  # Pillow refuses these without saying why
            raise ImageError(f"{path}: image has zero size ({size[0]} x {size[1]})") from e
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from e
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: {e}") from e
    except OSError as e:
        raise ImageError(f"{path}: cannot read: {e}") from e
    return im


def _decode_png16(im: Image.Image, tiles: list[Any], path: Path) -> np.ndarray | None:
    """uint16 samples of a 16-bit RGB(A) or gray+alpha PNG, HxWxC; None for any other image.

    Pillow decodes these to 8 bits by keeping the high byte. Decoding the same file a second time with the
    low-byte raw mode of the same pixel size recovers the rest exactly (the PNG filters work on bytes).
    `tiles` is `im.tile` as it was before `im.load()` (which empties it)."""
    if im.format != "PNG" or len(tiles) != 1:
        return None
    tile = tiles[0]
    rawmode = tile.args if isinstance(tile.args, str) else (tile.args or (None,))[0]
    low = _PNG16_LOW_BYTE.get((im.mode, rawmode))
    if rawmode == "LA;16B" and im.mode == "RGBA":
        low = "RGBA"  # 32 bits per pixel: the raw bytes L_hi, L_lo, A_hi, A_lo
    if low is None:
        return None
    try:
        with Image.open(path) as again:
            again.tile = [again.tile[0]._replace(args=low)]
            raw = np.asarray(again)
        high = np.asarray(im)
        if rawmode == "LA;16B":  # Pillow's own decoding is RGBA = (L, L, L, A) high bytes: must agree
            if not np.array_equal(raw[..., 0::2], high[..., [0, 3]]):
                raise ValueError("high bytes disagree with Pillow's decoding")
            raw16 = raw.astype(np.uint16)
            return raw16[..., 0::2] * 256 + raw16[..., 1::2]
        return high.astype(np.uint16) * 256 + raw.astype(np.uint16)
    except Exception as e:  # a Pillow without these raw modes: keep its 8-bit decoding, but say so
        warnings.warn(
            f"{path}: could not decode 16-bit samples exactly ({e}); using Pillow's 8-bit reduction",
            stacklevel=3,
        )
        return None


# EXIF orientation (tag 0x0112) -> the numpy equivalent of PIL.ImageOps.exif_transpose.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def _decode(path: PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """(rgb uint8 HxWx3, alpha uint8 HxW or None when the file has no transparency)."""
    path = Path(path)
    im = _open(path)
    with im:
        try:
            tiles = list(im.tile)
            im.load()
            w, h = im.size
            if w == 0 or h == 0:
                raise ImageError(f"{path}: image has zero size ({w} x {h})")
            exact16 = _decode_png16(im, tiles, path)
            rgb, alpha = _from_u16(exact16, im) if exact16 is not None else _from_pil(im, path)
            orientation = im.getexif().get(0x0112, 1)
        except ImageError:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise ImageError(f"{path}: cannot decode (truncated or corrupt file?): {e}") from e
    flip = _ORIENT.get(orientation)
    if flip is not None:
        rgb = flip(rgb)
        alpha = flip(alpha) if alpha is not None else None
    return rgb, alpha


def _from_u16(v: np.ndarray, im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    v8 = _u16_to_u8(v)
    if v8.shape[2] == 2:  # gray + alpha
        return np.repeat(v8[..., :1], 3, axis=2), v8[..., 1]
    if v8.shape[2] == 4:
        return v8[..., :3], v8[..., 3]
    key = im.info.get("transparency")
    if isinstance(key, tuple) and len(key) == 3:  # tRNS colour key on 16-bit samples
        alpha = np.where(np.all(v == np.array(key, dtype=np.uint16), axis=2), 0, 255).astype(np.uint8)
        return v8, alpha
    return v8, None


def _from_pil(im: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    mode = im.mode
    has_transparency = "transparency" in im.info or mode in ("RGBA", "LA", "La", "RGBa", "PA")
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        v = np.asarray(im)
        if mode == "I" and v.size and (v.min() < 0 or v.max() > 65535):
            raise ImageError(
                f"{path}: 32-bit integer image with values {v.min()}..{v.max()} outside 0..65535; "
                "convert it to 8 or 16 bits first"
            )
        gray = _u16_to_u8(v)
        key = im.info.get("transparency")
        alpha = np.where(v == key, 0, 255).astype(np.uint8) if isinstance(key, int) else None
        return np.repeat(gray[..., None], 3, axis=2), alpha
    if mode == "F":
        raise ImageError(f"{path}: 32-bit float image (mode F) has no defined value range; not supported")
    if mode in ("1", "L") and not has_transparency:
        gray = np.asarray(im.convert("L"))
        return np.repeat(gray[..., None], 3, axis=2), None
    if mode == "RGB" and not has_transparency:
        return np.asarray(im), None
    try:
        if has_transparency:
            rgba = np.asarray(im.convert("RGBA"))
            return rgba[..., :3], rgba[..., 3]
        return np.asarray(im.convert("RGB")), None
    except ValueError as e:  # Pillow has no conversion for this mode
        raise ImageError(f"{path}: unsupported image mode {mode!r}: {e}") from e


def load_image_with_alpha(path: PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode `path` to `(rgb, alpha)`: rgb is uint8 HxWx3 (conversions as in the module docstring), alpha is
    uint8 HxW when the file carries transparency (an alpha channel, palette transparency or a tRNS colour key;
    even when every pixel happens to be opaque), else None. For callers that handle alpha themselves
    (`srlib upscale`: alpha is upscaled separately by bicubic)."""
    rgb, alpha = _decode(path)
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    return rgb, (np.ascontiguousarray(alpha, dtype=np.uint8) if alpha is not None else None)


def load_image(path: PathLike) -> np.ndarray:
    """Decode `path` to a uint8 RGB array H x W x 3 (see the module docstring for every conversion).

    A fully opaque alpha channel is dropped; an image with any non-opaque pixel raises ImageError (use
    `load_image_with_alpha`). Unreadable, non-image, truncated and zero-size files raise ImageError."""
    rgb, alpha = load_image_with_alpha(path)
    if alpha is not None and alpha.size and int(alpha.min()) < 255:
        n = int(np.count_nonzero(alpha < 255))
        raise ImageError(
            f"{Path(path)}: {n} of {alpha.size} pixels are not fully opaque; transparent pixels have no "
            "defined RGB value to super-resolve or score (flatten the image onto a background first, or use "
            "load_image_with_alpha / `srlib upscale`, which upscales the alpha channel separately)"
        )
    return rgb


def check_min_size(img: np.ndarray, size: int | tuple[int, int], path: PathLike | None = None) -> None:
    """Raise ImageTooSmallError (naming `path`) unless `img` is at least `size` (int or (height, width))
    in both dimensions. Training data uses it to refuse images smaller than a patch."""
    need_h, need_w = (size, size) if isinstance(size, int) else size
    h, w = img.shape[:2]
    if h < need_h or w < need_w:
        where = f"{Path(path)}: " if path is not None else ""
        raise ImageTooSmallError(
            f"{where}image is {h} x {w} (H x W), smaller than the required {need_h} x {need_w}"
        )


__all__ = [
    "ImageError",
    "ImageTooSmallError",
    "check_min_size",
    "load_image",
    "load_image_with_alpha",
]
