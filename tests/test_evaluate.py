"""Bicubic model, the evaluation core (evaluate(), Validator) and the `srlib evaluate` command; the Bicubic
row of Table 2 on Set5/Set14."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from srlib.cli import main as cli_main
from srlib.core.imresize import degrade, imresize, modcrop
from srlib.core.metrics import psnr, ssim
from srlib.core.paper import table2
from srlib.evaluation import (
    MEAN_COLUMNS,
    ROW_COLUMNS,
    Validator,
    evaluate,
    is_single_channel_file,
    means_path,
    set_means,
)
from srlib.inference import super_resolve
from srlib.models import build_model
from srlib.models.bicubic import Bicubic
from srlib.reports.compare import compare_with_paper
from srlib.reports.markdown import to_markdown

# --- Bicubic model ---------------------------------------------------------------------------------------


def test_bicubic_is_float64_matlab_imresize_without_parameters():
    model = build_model("bicubic", 3)
    assert isinstance(model, Bicubic) and model.scale == 3 and model.in_channels == 3
    assert list(model.parameters()) == []
    x = torch.rand(2, 3, 7, 5)
    out = model(x)
    assert out.shape == (2, 3, 21, 15) and out.dtype == torch.float32
    torch.testing.assert_close(out, imresize(x.double(), scale=3).float(), rtol=0, atol=0)
    y = build_model("bicubic", 2, in_channels=1)(torch.rand(1, 1, 4, 4, dtype=torch.float64))
    assert y.shape == (1, 1, 8, 8) and y.dtype == torch.float64


def test_bicubic_tiled_equals_whole_with_its_receptive_radius():
    lr = np.random.default_rng(0).integers(0, 256, size=(37, 29, 3), dtype=np.uint8)
    model = Bicubic(4)
    whole = super_resolve(model, lr, tile=None)
    tiled = super_resolve(model, lr, tile=16)
    assert tiled.mode == "tiled"
    np.testing.assert_array_equal(tiled.image, whole.image)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"scale": 0}, "scale"), ({"scale": 2.5}, "scale"), ({"scale": 2, "in_channels": 2}, "in_channels")],
)
def test_bicubic_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Bicubic(**kwargs)


def test_bicubic_rejects_wrong_channels():
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        Bicubic(2)(torch.rand(1, 1, 4, 4))


# --- evaluate() on a tiny synthetic set ------------------------------------------------------------------


@pytest.fixture()
def tiny_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Path]]:
    """Two sets of small PNGs (one of them single-channel) served by a patched `set_files`."""
    rng = np.random.default_rng(1)
    sets: dict[str, list[Path]] = {}
    for name, shapes in (("TinyA", [(50, 44, 3), (41, 47, 0)]), ("TinyB", [(36, 48, 3)])):
        folder = tmp_path / "data" / name
        folder.mkdir(parents=True)
        sets[name] = []
        for i, (h, w, c) in enumerate(shapes):
            smooth = imresize(rng.random((h // 4 + 1, w // 4 + 1, max(c, 1))) * 255, output_shape=(h, w))
            pixels = np.clip(smooth, 0, 255).astype(np.uint8)
            path = folder / f"img{i}.png"
            Image.fromarray(pixels if c else pixels[..., 0]).save(path)
            sets[name].append(path)

    def fake_set_files(name: str, data_dir=None) -> list[Path]:
        return list(sets[{n.lower(): n for n in sets}[name.lower()]])

    monkeypatch.setattr("srlib.data.benchmark.set_files", fake_set_files)
    return sets


def _expected_row(path: Path, scale: int, gray: bool) -> tuple[float, float]:
    img = np.asarray(Image.open(path).convert("RGB"))
    hr = modcrop(img, scale)
    sr = super_resolve(Bicubic(scale), degrade(hr, scale)).image
    return psnr(sr, hr, shave=scale, grayscale=gray), ssim(sr, hr, shave=scale, grayscale=gray)


def test_evaluate_rows_means_and_files(tiny_set, tmp_path: Path):
    out = tmp_path / "res" / "bic.csv"
    rows = evaluate(
        "bicubic", [2, 3], ["TinyA", "TinyB"], out_csv=out, progress=False, save_dir=tmp_path / "sr"
    )
    assert list(rows.columns) == list(ROW_COLUMNS)
    assert len(rows) == 3 * 2
    assert set(rows["model"]) == {"bicubic"} and set(rows["mode"]) == {"whole"}
    row = rows[(rows["set"] == "TinyA") & (rows["scale"] == 3) & (rows["image"] == "img1")].iloc[0]
    assert (row["psnr"], row["ssim"]) == pytest.approx(_expected_row(tiny_set["TinyA"][1], 3, gray=True))
    row = rows[(rows["set"] == "TinyB") & (rows["scale"] == 2)].iloc[0]
    assert (row["psnr"], row["ssim"]) == pytest.approx(_expected_row(tiny_set["TinyB"][0], 2, gray=False))

    pd.testing.assert_frame_equal(pd.read_csv(out), rows, check_dtype=False)
    means = pd.read_csv(means_path(out))
    assert list(means.columns) == list(MEAN_COLUMNS)
    assert list(zip(means["set"], means["scale"], means["images"], strict=True)) == [
        ("TinyA", 2, 2),
        ("TinyA", 3, 2),
        ("TinyB", 2, 1),
        ("TinyB", 3, 1),
    ]
    a3 = rows[(rows["set"] == "TinyA") & (rows["scale"] == 3)]
    assert means.loc[1, "psnr"] == pytest.approx(a3["psnr"].mean())

    saved = np.asarray(Image.open(tmp_path / "sr" / "TinyA" / "x3" / "img0.png"))
    assert saved.shape == modcrop(np.asarray(Image.open(tiny_set["TinyA"][0])), 3).shape


def test_evaluate_accepts_a_callable_and_labels_it(tiny_set):
    class Shifted(nn.Module):
        def __init__(self, scale: int) -> None:
            super().__init__()
            self.scale, self.in_channels = scale, 3
            self.bicubic = Bicubic(scale)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bicubic(x) + 10 / 255

    def shifted(scale: int) -> nn.Module:
        return Shifted(scale)

    rows = evaluate(shifted, [2], ["TinyB"], progress=False)
    assert list(rows["model"]) == ["shifted"]
    reference = evaluate("bicubic", [2], ["TinyB"], progress=False)
    assert rows["psnr"].iloc[0] < reference["psnr"].iloc[0] - 1
    assert list(evaluate(shifted, [2], ["TinyB"], progress=False, name="mine")["model"]) == ["mine"]


def test_evaluate_max_images_limits_a_set(tiny_set):
    rows = evaluate("bicubic", [2], ["TinyA", "TinyB"], progress=False, max_images={"tinya": 1})
    assert list(zip(rows["set"], rows["image"], strict=True)) == [("TinyA", "img0"), ("TinyB", "img0")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "nosuchmodel", "scales": [2], "sets": ["TinyA"]}, "unknown model"),
        ({"model": "bicubic", "scales": [], "sets": ["TinyA"]}, "scales"),
        ({"model": "bicubic", "scales": [0], "sets": ["TinyA"]}, "scales"),
        ({"model": "bicubic", "scales": [2], "sets": []}, "at least one set"),
        ({"model": 42, "scales": [2], "sets": ["TinyA"]}, "registry name or a callable"),
        ({"model": lambda s: Bicubic(2), "scales": [3], "sets": ["TinyA"]}, "has scale 2"),
    ],
)
def test_evaluate_bad_arguments(tiny_set, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate(progress=False, **kwargs)


def test_evaluate_names_the_file_an_image_is_too_small_in(tiny_set, tmp_path: Path, monkeypatch):
    small = tmp_path / "data" / "TinyA" / "small.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(small)
    monkeypatch.setattr("srlib.data.benchmark.set_files", lambda name, data_dir=None: [small])
    with pytest.raises(ValueError, match=r"small\.png at x4: .*window"):
        evaluate("bicubic", [4], ["TinyA"], progress=False)


def test_evaluate_labels_sets_by_their_folder(tiny_set):
    assert set(evaluate("bicubic", [2], ["tinyb"], progress=False)["set"]) == {"TinyB"}


def test_single_channel_file_detection(tiny_set):
    assert is_single_channel_file(tiny_set["TinyA"][1])
    assert not is_single_channel_file(tiny_set["TinyA"][0])


# --- training-time validation: the same core ---------------------------------------------------------------


def _validation_and_evaluation(net: nn.Module, set_name: str, scale: int, data_dir=None, n=None):
    was_training = net.training
    val = Validator(set_name, scale, data_dir, n)(net, torch.device("cpu"))
    assert net.training == was_training  # validation leaves the model's mode as it found it
    limits = {set_name: n} if n else None
    rows = evaluate(lambda s: net, [scale], [set_name], data_dir=data_dir, progress=False, max_images=limits)
    return val, set_means(rows).iloc[0]


def test_validation_scores_as_evaluate_does_gray_files_included(tiny_set):
    """TinyA holds a single-channel file: validation scores it on its gray level, as `srlib evaluate`."""
    net = Bicubic(3).train()
    val, mean = _validation_and_evaluation(net, "TinyA", 3)
    assert (val["psnr"], val["ssim"], val["images"]) == (mean["psnr"], mean["ssim"], mean["images"])
    gray_path = tiny_set["TinyA"][1]
    assert val["psnr"] != pytest.approx(
        np.mean([_expected_row(tiny_set["TinyA"][0], 3, False)[0], _expected_row(gray_path, 3, False)[0]])
    )  # the Y-channel score of the gray file would differ


def test_validation_equals_evaluate_for_a_trained_style_model_on_demo(tmp_path: Path):
    """A (randomly initialised) SRCNN on the first two Demo images: the numbers training logs are the
    numbers `srlib evaluate` reports, bit for bit."""
    torch.manual_seed(0)
    net = build_model("srcnn", 2, channels=(8, 4))
    val, mean = _validation_and_evaluation(net, "Demo", 2, tmp_path / "data", 2)
    assert (val["psnr"], val["ssim"], val["images"]) == (mean["psnr"], mean["ssim"], 2)
    assert val["set"] == "Demo" and math.isfinite(val["psnr"])


# --- comparison with the paper ---------------------------------------------------------------------------


def test_compare_with_paper_and_markdown():
    means = pd.DataFrame(
        {
            "model": ["lapsrn", "lapsrn"],
            "set": ["Set5", "BSD100"],
            "scale": [2, 4],
            "images": [5, 100],
            "psnr": [37.50, 25.0],
            "ssim": [0.9600, 0.70],
        }
    )
    cmp = compare_with_paper(means)
    first = cmp.iloc[0]
    assert first["paper_psnr"] == table2("lapsrn", 2, "Set5").psnr
    assert first["diff_psnr"] == pytest.approx(37.50 - 37.52)
    assert first["diff_ssim"] == pytest.approx(0.9600 - 0.9591)
    assert math.isnan(cmp.iloc[1]["paper_psnr"]) and "T2-lapsrn-shift" in cmp.iloc[1]["note"]
    md = to_markdown(cmp)
    assert md.splitlines()[0].startswith("| model | scale | set | images | psnr | paper_psnr | diff_psnr |")
    assert "| lapsrn | 2 | Set5 | 5 | 37.50 | 37.52 | -0.020 | 0.9600 | 0.9591 | +0.0009 |" in md
    assert "| 25.00 | - | - |" in md  # the missing paper value and difference
    assert to_markdown(pd.DataFrame({"diff_psnr": [-0.0001]})).splitlines()[2] == "| +0.000 |"
    with pytest.raises(ValueError, match="not a Table 2 model"):
        compare_with_paper(means, paper_model="edsr")
    both = compare_with_paper(pd.concat([means, means.assign(model="vdsr")]))
    assert list(both["paper_psnr"].iloc[[0, 2]]) == [37.52, 37.53]  # each row beside its own model's


def test_set_means_keeps_inf_and_order():
    rows = pd.DataFrame(
        {
            "model": ["m"] * 3,
            "set": ["B", "B", "A"],
            "scale": [2, 2, 2],
            "image": ["x", "y", "z"],
            "psnr": [30.0, math.inf, 20.0],
            "ssim": [0.5, 1.0, 0.25],
            "mode": ["whole"] * 3,
        }
    )
    means = set_means(rows)
    assert list(means["set"]) == ["B", "A"]
    assert means["psnr"].iloc[0] == math.inf and means["ssim"].iloc[0] == 0.75
    with pytest.raises(ValueError, match="lack columns"):
        set_means(rows.drop(columns=["ssim"]))


# --- command line -----------------------------------------------------------------------------------------


def test_cli_evaluate(tiny_set, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "cli.csv"
    argv = ["evaluate", "--model", "bicubic", "--scales", "2", "--sets", "TinyB", "--out", str(out)]
    assert cli_main([*argv, "--no-progress", "--name", "bic"]) == 0
    text = capsys.readouterr().out
    assert "Protocol: standard -- PSNR/SSIM on the Y channel" in text and "| bic | 2 | TinyB | 1 |" in text
    assert "| not in Table 2 |" in text  # bicubic is a Table 2 model: compared with the paper
    assert out.is_file() and means_path(out).is_file()


# --- acceptance: the paper's Bicubic row -------------------------------------------------------------------


@pytest.mark.slow
def test_bicubic_reproduces_table2_on_set5_and_set14(data_dir: Path):
    """Within 0.05 dB PSNR and 0.002 SSIM of every Set5/Set14 Bicubic cell of Table 2 (docs/protocol.md has
    all 12 cells)."""
    rows = evaluate("bicubic", [2, 3, 4], ["Set5", "Set14"], data_dir=data_dir, progress=False)
    assert len(rows) == (5 + 14) * 3
    cmp = compare_with_paper(set_means(rows))
    assert len(cmp) == 6
    bad = cmp[(cmp["diff_psnr"].abs() > 0.05) | (cmp["diff_ssim"].abs() > 0.002)]
    assert bad.empty, f"cells off the paper:\n{to_markdown(cmp)}"
