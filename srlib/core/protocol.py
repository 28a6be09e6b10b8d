"""The evaluation protocols, named, with every convention in one place (docs/protocol.md).

- `standard` (the default): srlib's protocol, the one that reproduces the paper's Bicubic row. The LR image
  is MATLAB `imresize` of the modcropped uint8 RGB image (uint8 out); the model sees the Y of that LR
  (Y-only models) and its output becomes a uint8 RGB image; PSNR/SSIM on the rounded Y of MATLAB
  `rgb2ycbcr` (gray levels for single-channel files), shave = scale, SSIM = Wang et al.'s `ssim_index.m`.
- `authors`: each baseline's own released evaluation code, as far as it changes the numbers:
  - SRCNN, VDSR (`demo_SR.m` of SRCNN_v1; VDSR as measured with its weights): the Y channel is degraded,
    not the RGB image: Y = uint8 `rgb2ycbcr(uint8 RGB)` (gray levels for a single-channel file), then
    Y / 255 resized down by 1/s and up by s in floating point (no uint8 LR); the network's output is
    rounded to uint8 (`uint8(im_h * 255)`) and compared with the uint8 Y. SSIM: `ssim_index.m` (the
    definition their numbers' SSIM was computed with is not in their released code).
  - LapSRN (`test_LapSRN.m`, `SR_LapSRN.m`): the double RGB image (uint8 / 255) is resized down without
    rounding; the network sees the Y of its `rgb2ycbcr`, the chroma are bicubic-upscaled, the result is
    turned back into RGB and quantised to uint8 (`im2uint8`); PSNR and SSIM on the *unrounded* Y of both
    images; SSIM is MATLAB's built-in `ssim` (11x11 Gaussian, sigma 1.5, replicate padding, mean over the
    whole map). LapSRN's copy of Set14 stores `bridge` as a 3-channel image, so at x2 and x4 a
    single-channel file is treated as colour (Y = 16 + 219/255 gray), not scored on gray levels. At x3 (no
    x3 model was released; the published x3 numbers come from another evaluation) the published Set14
    mean is reproduced only with `bridge` on its gray levels -- the network on gray / 255, the output
    rounded to uint8 gray, as the same code does for a 1-channel file (`LAPSRN_GRAY`): measured, not read
    in the code (docs/protocol.md, "The protocol effect").
  Models without released conventions (bicubic, MemNet, MLRN) have no `authors` protocol.

`conventions(protocol, model)` names the conventions; `degrade`, `reference` and `sr_channel` apply the
image steps (numpy; the network runs in `srlib.evaluation`), `scores` computes PSNR/SSIM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srlib.core import metrics
from srlib.core.color import rgb2ycbcr, rgb_to_y
from srlib.core.imresize import degrade as degrade_uint8
from srlib.core.imresize import imresize

PROTOCOLS: tuple[str, ...] = ("standard", "authors")
DEFAULT_PROTOCOL = "standard"


@dataclass(frozen=True)
class Conventions:
    """How one protocol turns an HR image into an LR input and scores a model's output.

    degrade: "rgb-uint8" (MATLAB imresize of the uint8 RGB image), "y-float" (the uint8 Y / 255, resized in
        float) or "rgb-float" (the RGB image / 255, resized in float).
    compare: "y-rounded" (rounded Y of uint8 RGB images), "y-uint8" (the network's Y rounded to uint8 against
        the uint8 Y) or "y-float" (unrounded Y of uint8 RGB images).
    gray: "gray-levels" (a single-channel file is scored on its gray levels) or "colour" (like any RGB image).
    ssim: "ssim_index" (Wang et al.'s `ssim_index.m`) or "matlab" (MATLAB's built-in `ssim`).
    gray_levels_at: scales at which a "colour" protocol still takes single-channel files as gray (the
        conventions `for_image` returns there: `LAPSRN_GRAY`).
    """

    name: str
    degrade: str
    compare: str
    gray: str
    ssim: str
    summary: str
    gray_levels_at: tuple[int, ...] = ()


STANDARD = Conventions("standard", "rgb-uint8", "y-rounded", "gray-levels", "ssim_index", metrics.PROTOCOL)
Y_DEGRADATION = Conventions(
    "authors (SRCNN/VDSR)", "y-float", "y-uint8", "gray-levels", "ssim_index",
    "SRCNN's and VDSR's test code: uint8 Y (gray levels for gray files) / 255 resized down and up in float; "
    "network output rounded to uint8 and compared with the uint8 Y; shave = scale; SSIM ssim_index",
)  # fmt: skip
LAPSRN = Conventions(
    "authors (LapSRN)", "rgb-float", "y-float", "colour", "matlab",
    "LapSRN's test code: RGB / 255 resized down in double (no uint8 LR); network on its Y, chroma bicubic; "
    "output RGB quantised to uint8; PSNR and SSIM on unrounded Y, gray files as colour (on gray levels at "
    "x3); shave = scale; SSIM MATLAB ssim", gray_levels_at=(3,),
)  # fmt: skip
LAPSRN_GRAY = Conventions(
    "authors (LapSRN, gray file)", "y-float", "y-uint8", "gray-levels", "matlab",
    "LapSRN's test code on a 1-channel image: gray / 255 resized down in double; network output rounded to "
    "uint8 and compared with the gray levels; shave = scale; SSIM MATLAB ssim",
)  # fmt: skip
AUTHORS: dict[str, Conventions] = {"srcnn": Y_DEGRADATION, "vdsr": Y_DEGRADATION, "lapsrn": LAPSRN}


def check_protocol(protocol: str) -> str:
    key = str(protocol).lower()
    if key not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    return key


def conventions(protocol: str, model: str | None) -> Conventions:
    """The conventions `protocol` applies to registry model `model` (`authors` exists for srcnn, vdsr and
    lapsrn only: ValueError otherwise)."""
    if check_protocol(protocol) == "standard":
        return STANDARD
    key = (model or "").lower()
    if key not in AUTHORS:
        raise ValueError(
            f"protocol 'authors' has conventions for {', '.join(AUTHORS)} (their released test code); "
            f"{model or 'this model'} has none: use --protocol standard"
        )
    return AUTHORS[key]


def for_image(conv: Conventions, gray: bool, scale: int) -> Conventions:
    """The conventions that apply to one image: LapSRN's single-channel files at the scales of
    `gray_levels_at` follow `LAPSRN_GRAY`; everything else follows `conv`."""
    if gray and conv.gray == "colour" and scale in conv.gray_levels_at:
        return LAPSRN_GRAY
    return conv


def _uint8_channel(hr: np.ndarray, gray: bool) -> np.ndarray:
    """MATLAB's uint8 Y of a uint8 RGB image, or the gray level of a gray file (HxW uint8)."""
    return metrics.luma(hr, grayscale=gray).astype(np.uint8)


def degrade(hr: np.ndarray, scale: int, conv: Conventions, gray: bool) -> np.ndarray:
    """The LR image of a modcropped uint8 RGB `hr`: uint8 RGB ("rgb-uint8"), float64 HxW in [0, 1]
    ("y-float") or float64 HxWx3 in [0, 1] ("rgb-float")."""
    if conv.degrade == "rgb-uint8":
        return degrade_uint8(hr, scale)
    if conv.degrade == "y-float":
        return imresize(_uint8_channel(hr, gray and conv.gray == "gray-levels") / 255.0, scale=1.0 / scale)
    if conv.degrade == "rgb-float":
        return imresize(hr / 255.0, scale=1.0 / scale)
    raise ValueError(f"unknown degradation {conv.degrade!r}")


def network_input(lr: np.ndarray, conv: Conventions) -> np.ndarray:
    """The one channel a Y-only network sees for a float LR ("y-float": the LR itself; "rgb-float": the
    unrounded Y of its `rgb2ycbcr`), float64 HxW in [0, 1]."""
    if conv.degrade == "y-float":
        return lr
    if conv.degrade == "rgb-float":
        return rgb2ycbcr(lr)[..., 0]
    raise ValueError(f"{conv.name}: the LR is a uint8 RGB image; run it through srlib.inference")


def compose(sr_y: np.ndarray, lr: np.ndarray, scale: int, conv: Conventions) -> np.ndarray:
    """The uint8 image a protocol scores from the network's float output `sr_y` (HxW, [0, 1] scale):
    "y-float" degradation: the Y rounded to uint8 (HxW); "rgb-float": RGB from `sr_y` and the
    bicubic-upscaled chroma of the LR (`SR_LapSRN.m`), quantised to uint8 (HxWx3)."""
    from srlib.core.color import ycbcr2rgb

    if conv.degrade == "y-float":
        return _round_uint8(sr_y * 255.0)
    up = imresize(rgb2ycbcr(lr), output_shape=sr_y.shape)
    up[..., 0] = sr_y
    return _round_uint8(ycbcr2rgb(up) * 255.0)


def _round_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB `uint8(x)` / `im2uint8`: saturate, round half away from zero."""
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def _compared(img: np.ndarray, conv: Conventions, gray: bool) -> np.ndarray:
    """The float64 HxW array (0..255 scale) a protocol compares, from a uint8 image (HxWx3 or HxW)."""
    if img.ndim == 2:
        return img.astype(np.float64)
    as_gray = gray and conv.gray == "gray-levels"
    if conv.compare == "y-float" and not as_gray:
        return rgb_to_y(img)
    return metrics.luma(img, grayscale=as_gray)


def reference(hr: np.ndarray, conv: Conventions, gray: bool) -> np.ndarray:
    """The channel of the uint8 RGB `hr` that the SR output is compared with (0..255 scale)."""
    if conv.compare == "y-uint8":
        return _uint8_channel(hr, gray and conv.gray == "gray-levels").astype(np.float64)
    return _compared(hr, conv, gray)


def scores(sr: np.ndarray, hr: np.ndarray, scale: int, conv: Conventions, gray: bool) -> tuple[float, float]:
    """(PSNR, SSIM) of a uint8 SR image (HxWx3, or HxW for "y-float" degradation) against the uint8 RGB
    `hr`, by the conventions (shave = scale)."""
    ref = reference(hr, conv, gray)
    out = _compared(sr, conv, gray)
    if out.shape != ref.shape:
        raise ValueError(f"SR {out.shape} and HR {ref.shape} differ in size")
    a = metrics.shave_border(out, scale, "scores")
    b = metrics.shave_border(ref, scale, "scores")
    ssim = metrics.ssim_y(a, b) if conv.ssim == "ssim_index" else metrics.ssim_matlab_y(a, b)
    return metrics.psnr_y(a, b), ssim
