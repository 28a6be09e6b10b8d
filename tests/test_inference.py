"""srlib.inference: whole vs tiled agreement, auto tiling, self-ensemble, Y-only handling, device/autocast."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srlib.inference import SRResult, resolve_tile, super_resolve, super_resolve_tensor
from srlib.models import build_model

SMALL = {
    "srcnn": {"channels": (8, 4)},
    "vdsr": {"depth": 4, "channels": 8},
    "lapsrn": {"depth": 2, "channels": 8},
    "memnet": {"n_memory": 2, "n_recursions": 2, "channels": 8},
}


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_equals_whole_for_conv_baselines(name: str, scale: int) -> None:
    """Crop-and-stitch tiles with overlap = the model's receptive radius reproduce the whole image."""
    torch.manual_seed(0)
    model = build_model(name, scale, **SMALL[name])
    x = torch.rand(1, 1, 19, 23)
    whole, mode_w = super_resolve_tensor(model, x, tile=None)
    tiled, mode_t = super_resolve_tensor(model, x, tile=8)
    assert (mode_w, mode_t) == ("whole", "tiled")
    assert tiled.shape == whole.shape == (1, 1, 19 * scale, 23 * scale)
    assert (tiled - whole).abs().max().item() <= 1e-4


def test_too_little_overlap_is_visible() -> None:
    """The agreement above is not vacuous: without enough context the tile seams differ."""
    torch.manual_seed(0)
    model = build_model("vdsr", 2, **SMALL["vdsr"])
    x = torch.rand(1, 1, 24, 24)
    whole, _ = super_resolve_tensor(model, x, tile=None)
    tiled, _ = super_resolve_tensor(model, x, tile=8, overlap=0)
    assert (tiled - whole).abs().max().item() > 1e-3


def test_tiled_rgb_bicubic_is_exact() -> None:
    model = build_model("bicubic", 3)
    x = torch.rand(2, 3, 17, 23)
    whole, _ = super_resolve_tensor(model, x, tile=None)
    tiled, _ = super_resolve_tensor(model, x, tile=5, overlap=2)
    assert (tiled - whole).abs().max().item() <= 1e-6


def test_auto_tiling_threshold() -> None:
    model = build_model("srcnn", 2, **SMALL["srcnn"])
    assert resolve_tile(model, (100, 100), "auto", max_pixels=40_000, overlap=8) is None
    assert resolve_tile(model, (101, 100), "auto", max_pixels=40_000, overlap=8) == 100 - 16
    assert resolve_tile(model, (10, 10), None, max_pixels=1, overlap=8) is None
    assert resolve_tile(model, (10, 10), 7, max_pixels=1, overlap=8) == 7
    for bad in (0, -3, 2.5, "big", True):
        with pytest.raises(ValueError, match="tile must be"):
            resolve_tile(model, (10, 10), bad, max_pixels=1, overlap=8)  # type: ignore[arg-type]
    x = torch.rand(1, 1, 30, 30)
    whole, mode = super_resolve_tensor(model, x)
    assert mode == "whole"
    tiled, mode = super_resolve_tensor(model, x, max_pixels=32 * 32)
    assert mode == "tiled"
    assert (tiled - whole).abs().max().item() <= 1e-4


class _DihedralToy(nn.Module):
    """Nearest-neighbour x2 upsampling and a 3x3 conv whose kernel has the square's symmetries: its output
    commutes with every rotation by 90 degrees and every flip."""

    scale = 2
    in_channels = 1

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[0.05, 0.1, 0.05], [0.1, 0.4, 0.1], [0.05, 0.1, 0.05]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def test_self_ensemble_of_equivariant_model_equals_plain_output() -> None:
    model = _DihedralToy()
    x = torch.rand(1, 1, 9, 14)
    plain, mode_p = super_resolve_tensor(model, x)
    ens, mode_e = super_resolve_tensor(model, x, self_ensemble=True)
    assert (mode_p, mode_e) == ("whole", "whole+x8")
    torch.testing.assert_close(ens, plain, atol=1e-6, rtol=0)


def test_self_ensemble_averages_the_eight_transforms() -> None:
    torch.manual_seed(0)
    model = build_model("vdsr", 2, **SMALL["vdsr"]).eval()
    x = torch.rand(1, 1, 7, 10)
    ens, _ = super_resolve_tensor(model, x, self_ensemble=True)
    outs = []
    with torch.no_grad():
        for flip in (False, True):
            for k in range(4):
                xt = torch.rot90(x, k, dims=(-2, -1))
                xt = torch.flip(xt, dims=(-1,)) if flip else xt
                y = model(xt)
                y = torch.flip(y, dims=(-1,)) if flip else y
                outs.append(torch.rot90(y, -k, dims=(-2, -1)))
    torch.testing.assert_close(ens, torch.stack(outs).mean(0), atol=1e-5, rtol=0)
    plain, _ = super_resolve_tensor(model, x)
    assert (ens - plain).abs().max() > 1e-4  # a random VDSR is not equivariant
    tiled_ens, mode = super_resolve_tensor(model, x, self_ensemble=True, tile=4)
    assert mode == "tiled+x8"
    assert (tiled_ens - ens).abs().max().item() <= 1e-4


def test_y_only_model_matches_rgb_for_bicubic() -> None:
    """Bicubic and the YCbCr conversion are both linear, so upscaling Y (and CbCr by bicubic) equals
    upscaling RGB up to the final rounding."""
    lr = _image(11, 13)
    rgb = super_resolve(build_model("bicubic", 3, in_channels=3), lr)
    y_only = super_resolve(build_model("bicubic", 3, in_channels=1), lr)
    assert isinstance(rgb, SRResult) and rgb.mode == y_only.mode == "whole"
    assert rgb.image.shape == y_only.image.shape == (33, 39, 3)
    assert rgb.image.dtype == y_only.image.dtype == np.uint8
    assert np.abs(rgb.image.astype(int) - y_only.image.astype(int)).max() <= 1


@pytest.mark.parametrize("name", sorted(SMALL))
def test_super_resolve_uint8_end_to_end(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 2, **SMALL[name]).train()
    result = super_resolve(model, _image(9, 12))
    assert result.image.shape == (18, 24, 3) and result.image.dtype == np.uint8
    assert result.mode == "whole"
    assert model.training  # the caller's mode is restored


def test_super_resolve_tiled_self_ensemble_mode() -> None:
    model = build_model("srcnn", 3, **SMALL["srcnn"])
    result = super_resolve(model, _image(9, 12), tile=5, self_ensemble=True)
    assert result.image.shape == (27, 36, 3) and result.mode == "tiled+x8"


def test_super_resolve_rejects_bad_input() -> None:
    model = build_model("bicubic", 2)
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8)):
        with pytest.raises(ValueError, match="HxWx3 uint8"):
            super_resolve(model, bad)
    with pytest.raises(ValueError, match="overlap"):
        super_resolve(model, _image(4, 4), overlap=-1)


def test_autocast_is_cuda_only() -> None:
    """On CPU an autocast request warns and runs float32 (bitwise the plain result)."""
    torch.manual_seed(0)
    model = build_model("vdsr", 2, **SMALL["vdsr"])
    lr = _image(10, 12)
    fp32 = super_resolve(model, lr, device="cpu")
    with pytest.warns(UserWarning, match="only used on CUDA"):
        bf16 = super_resolve(model, lr, device=torch.device("cpu"), autocast=torch.bfloat16)
    assert np.array_equal(bf16.image, fp32.image)
    x = torch.rand(1, 1, 6, 6)
    with pytest.warns(UserWarning, match="only used on CUDA"):
        out, _ = super_resolve_tensor(model, x, autocast=torch.bfloat16)
    assert out.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    model = build_model("vdsr", 2, **SMALL["vdsr"])
    lr = _image(10, 12)
    cpu = super_resolve(model, lr, device="cpu").image
    gpu = super_resolve(model, lr, device="cuda").image
    assert np.abs(cpu.astype(int) - gpu.astype(int)).max() <= 1
