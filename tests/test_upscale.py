"""`srlib upscale`: RGB, grayscale, RGBA, 16-bit and palette inputs, folders, never overwriting an input,
atomic writes, bicubic without weights and trained weights with their card checked."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srlib.commands import upscale

BIC2 = ("--scale", "2", "--model", "bicubic")


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    upscale.add_arguments(parser)
    return upscale.run(parser.parse_args(list(argv)))


def _rgb(h: int = 20, w: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _bicubic(img: np.ndarray, scale: int) -> np.ndarray:
    from srlib.inference import super_resolve
    from srlib.models import build_model

    return super_resolve(build_model("bicubic", scale), img).image


def test_rgb_bicubic(tmp_path: Path) -> None:
    img = _rgb()
    Image.fromarray(img).save(tmp_path / "a.png")
    assert _run(str(tmp_path / "a.png"), str(tmp_path / "a_x2.png"), *BIC2) == 0
    out = np.asarray(Image.open(tmp_path / "a_x2.png"))
    assert out.shape == (40, 56, 3)
    np.testing.assert_array_equal(out, _bicubic(img, 2))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_grayscale_stays_grayscale(tmp_path: Path) -> None:
    gray = _rgb()[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    assert _run(str(tmp_path / "g.png"), str(tmp_path / "g3.png"), "--scale", "3", "--model", "bicubic") == 0
    with Image.open(tmp_path / "g3.png") as im:
        assert im.mode == "L" and im.size == (84, 60)


def test_rgba_alpha_upscaled_by_bicubic(tmp_path: Path) -> None:
    from srlib.core.imresize import imresize

    img = _rgb()
    alpha = np.tile(np.linspace(0, 255, 28).round().astype(np.uint8), (20, 1))
    Image.fromarray(np.dstack([img, alpha]), "RGBA").save(tmp_path / "t.png")
    assert _run(str(tmp_path / "t.png"), str(tmp_path / "t2.png"), "--scale", "2", "--model", "bicubic") == 0
    out = np.asarray(Image.open(tmp_path / "t2.png"))
    assert out.shape == (40, 56, 4)
    expect = np.clip(np.round(imresize(alpha.astype(np.float64), output_shape=(40, 56))), 0, 255)
    np.testing.assert_array_equal(out[..., 3], expect.astype(np.uint8))
    np.testing.assert_array_equal(out[..., :3], _bicubic(img, 2))


def test_rgba_into_jpeg_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alpha = np.full((20, 28), 128, np.uint8)
    Image.fromarray(np.dstack([_rgb(), alpha]), "RGBA").save(tmp_path / "t.png")
    assert _run(str(tmp_path / "t.png"), str(tmp_path / "t.jpg"), "--scale", "2", "--model", "bicubic") == 2
    assert "cannot store an alpha channel" in capsys.readouterr().err
    assert not (tmp_path / "t.jpg").exists()


def test_16bit_inputs_are_reduced_with_a_notice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = (np.arange(20 * 28, dtype=np.uint16).reshape(20, 28) * 97).astype(np.uint16)
    Image.fromarray(v).save(tmp_path / "d.png")
    assert _run(str(tmp_path / "d.png"), str(tmp_path / "d2.png"), "--scale", "2", "--model", "bicubic") == 0
    assert "16-bit" in capsys.readouterr().err
    with Image.open(tmp_path / "d2.png") as im:
        assert im.mode == "L" and im.size == (56, 40)


def test_folder_input(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_rgb(seed=1)).save(src / "a.png")
    Image.fromarray(_rgb(seed=2)).save(src / "b.jpg", quality=95)
    (src / "notes.txt").write_text("not an image")
    assert _run(str(src), str(tmp_path / "out"), "--scale", "2", "--model", "bicubic", "--quiet") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


def test_never_overwrites_an_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    for out in (tmp_path / "a.png", tmp_path / "." / "a.png", tmp_path):
        args = (str(tmp_path / "a.png"), str(out), "--scale", "2", "--model", "bicubic", "--overwrite")
        assert _run(*args) == 2
        assert "it is an input file" in capsys.readouterr().err
    # a folder upscaled into itself would replace its own PNGs
    assert _run(str(tmp_path), str(tmp_path), "--scale", "2", "--model", "bicubic", "--overwrite") == 2
    assert (tmp_path / "a.png").read_bytes() == before


def test_existing_output_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    (tmp_path / "o.png").write_bytes(b"keep")
    assert _run(str(tmp_path / "a.png"), str(tmp_path / "o.png"), "--scale", "2", "--model", "bicubic") == 2
    assert "--overwrite" in capsys.readouterr().err and (tmp_path / "o.png").read_bytes() == b"keep"
    args = (str(tmp_path / "a.png"), str(tmp_path / "o.png"), *BIC2, "--overwrite")
    assert _run(*args) == 0
    assert Image.open(tmp_path / "o.png").size == (56, 40)


def test_bad_inputs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.png").write_bytes(b"not a png at all")
    assert _run(str(tmp_path / "x.png"), str(tmp_path / "y.png"), "--scale", "2", "--model", "bicubic") == 2
    assert "x.png" in capsys.readouterr().err
    assert _run(str(tmp_path / "missing.png"), str(tmp_path / "y.png"), *BIC2) == 2
    assert "does not exist" in capsys.readouterr().err
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    assert _run(str(tmp_path / "a.png"), str(tmp_path / "y.xyz"), "--scale", "2", "--model", "bicubic") == 2
    assert "output format" in capsys.readouterr().err
    assert _run(str(tmp_path / "a.png"), str(tmp_path / "y.png"), "--scale", "2") == 2
    assert "--weights" in capsys.readouterr().err


def test_trained_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from srlib.inference import super_resolve
    from srlib.models import build_model
    from srlib.weights import save_weights

    torch.manual_seed(0)
    net = build_model("srcnn", 3, channels=[8, 4])
    w = tmp_path / "srcnn_x3.pt"
    save_weights(net, w, {"model": "srcnn", "options": {"channels": [8, 4]}, "scale": 3})
    img = _rgb()
    Image.fromarray(img).save(tmp_path / "a.png")
    assert _run(str(tmp_path / "a.png"), str(tmp_path / "o.png"), "--weights", str(w)) == 0  # scale from card
    out = np.asarray(Image.open(tmp_path / "o.png"))
    np.testing.assert_array_equal(out, super_resolve(net.eval(), img).image)
    assert _run(str(tmp_path / "a.png"), str(tmp_path / "p.png"), "--weights", str(w), "--scale", "2") == 2
    assert "trained for x3" in capsys.readouterr().err
    args = (str(tmp_path / "a.png"), str(tmp_path / "p.png"), "--weights", str(w), "--model", "vdsr")
    assert _run(*args) == 2
    assert "'srcnn' model" in capsys.readouterr().err


def test_file_into_a_new_folder(tmp_path: Path) -> None:
    Image.fromarray(_rgb()).save(tmp_path / "a.jpg", quality=95)
    assert _run(str(tmp_path / "a.jpg"), str(tmp_path / "new") + "/", *BIC2, "--quiet") == 0
    assert Image.open(tmp_path / "new" / "a.png").size == (56, 40)
