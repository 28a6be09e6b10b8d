"""Figures: the crop rule, the Fig. 5 layout, training curves, atomic PNG writes."""

from __future__ import annotations

import numpy as np
import pytest

from srlib.reports import figures, plots


def _flat_with_texture(top: int, left: int, size: int = 16) -> np.ndarray:
    img = np.full((96, 128, 3), 120, np.uint8)
    rng = np.random.default_rng(0)
    img[top : top + size, left : left + size] = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    return img


def test_pick_crop_finds_the_textured_region_and_keeps_off_the_border():
    assert figures.pick_crop(_flat_with_texture(40, 60), 16) == (40, 60, 16, 16)
    top, left, h, w = figures.pick_crop(_flat_with_texture(0, 0), 16, margin=12)
    assert (h, w) == (16, 16) and top >= 12 and left >= 12
    assert figures.pick_crop(_flat_with_texture(0, 0), 16, margin=12) == figures.pick_crop(
        _flat_with_texture(0, 0), 16, margin=12
    )


def test_visual_comparison_has_the_hr_view_and_one_labelled_crop_per_method(tmp_path):
    hr = _flat_with_texture(40, 60)
    results = {"Bicubic": (hr, 30.123, 0.91234), "MLRN (ours)": (hr, 31.5, 0.95)}
    fig = figures.visual_comparison(hr, results, (40, 60, 16, 16), "Set5/x x2")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Set5/x x2", "HR", "Bicubic\n30.12 dB / 0.9123", "MLRN (ours)\n31.50 dB / 0.9500"]
    path = figures.save(fig, tmp_path / "f" / "fig.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["fig.png"]


def test_training_curves_plot_each_model_per_scale():
    log = [
        {"kind": "train", "iteration": 5, "loss": 0.5},
        {"kind": "train", "iteration": 10, "loss": 0.2},
        {"kind": "val", "iteration": 10, "val_psnr": 25.0},
    ]
    fig = plots.training_curves({2: {"VDSR": log, "MLRN": log}, 4: {"VDSR": []}}, "smoke")
    loss2, loss4, val2, _ = fig.axes
    assert len(loss2.lines) == 2 and loss2.get_yscale() == "log" and len(loss4.lines) == 0
    assert list(val2.lines[0].get_ydata()) == [25.0]


def test_show_pairs_shows_hr_beside_its_lr():
    fig = plots.show_pairs([("a", _flat_with_texture(40, 60))], scale=4)
    assert [ax.get_title() for ax in fig.axes] == ["a: HR 128x96", "LR x4: 32x24"]


@pytest.mark.parametrize("size", [200, 96])
def test_pick_crop_clamps_to_the_image(size):
    assert figures.pick_crop(_flat_with_texture(0, 0), size, margin=50) == (0, 0, 96, 96)


def test_compare_methods_scores_by_the_evaluation_protocol():
    """The figure's labels are the numbers `srlib evaluate` gives that image (gray rule included)."""
    from srlib.core.imresize import modcrop
    from srlib.evaluation import prepare, score_image
    from srlib.models.bicubic import Bicubic

    hr = modcrop(_flat_with_texture(40, 60), 3)
    for gray in (False, True):
        image = np.repeat(hr[..., :1], 3, axis=2) if gray else hr
        results = figures.compare_methods({"Bicubic": Bicubic(3)}, image, 3, grayscale=gray)
        scored = score_image(Bicubic(3), prepare(image, 3, gray=gray))
        sr, psnr, ssim = results["Bicubic"]
        np.testing.assert_array_equal(sr, scored.sr)
        assert (psnr, ssim) == (scored.psnr, scored.ssim)


def test_released_models_are_labelled_like_table2_and_upscale_at_the_asked_scale(weights_dir):
    """Fig. 5's released panels: the authors' weights in our classes, named as Table 2 names them; LapSRN x3
    is its x4 network with the output resized to x3 (the authors' convention), so x3 holds for it too."""
    import torch

    from srlib.models.lapsrn import LapSRN
    from srlib.models.srcnn import SRCNN

    nets = figures.released_models(["srcnn", "lapsrn"], 3, weights_dir)
    assert list(nets) == ["SRCNN (authors' weights)", "LapSRN (authors' weights)"]
    assert isinstance(nets["SRCNN (authors' weights)"], SRCNN)
    assert isinstance(nets["LapSRN (authors' weights)"], LapSRN)
    with torch.no_grad():
        for net in nets.values():
            assert not net.training
            assert net(torch.rand(1, net.in_channels, 10, 14)).shape[-2:] == (30, 42)
