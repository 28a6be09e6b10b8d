"""`srlib upscale`: RGB, grayscale, RGBA, 16-bit and palette inputs, folders, never overwriting an input,
atomic writes, bicubic without weights and trained weights with their card checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srlib.cli import main

BIC2 = ("--scale", "2", "--model", "bicubic")


def _run(*argv: str) -> int:
    """`srlib upscale ARGV` as a user calls it (through srlib.cli, which turns refusals into one line)."""
    return main(["upscale", *argv])


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


def _folder(tmp_path: Path, bad: bool = True) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(_rgb(seed=i)).save(src / f"a{i}.png")
    if bad:
        (src / "broken.png").write_bytes(b"not a png at all")
    return src


def test_folder_run_goes_on_past_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = _folder(tmp_path), tmp_path / "out"
    assert _run(str(src), str(out), *BIC2) == 2
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["a0.png", "a1.png", "a2.png"]
    failed = [line for line in err.splitlines() if "failed:" in line]
    assert len(failed) == 1 and "broken.png" in failed[0] and "not an image" in failed[0]
    assert "error: 1 of 4 images failed (broken.png)" in err and "3 written" in err
    assert "Traceback" not in err


def test_folder_rerun_skips_complete_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = _folder(tmp_path, bad=False), tmp_path / "out"
    assert _run(str(src), str(out), *BIC2) == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "a1.png").unlink()  # as if the first run had been interrupted before a1
    capsys.readouterr()
    assert _run(str(src), str(out), *BIC2) == 0
    lines = capsys.readouterr().out
    assert "1 written, 2 skipped" in lines and "a1.png" in lines and "a0.png" not in lines
    assert (out / "a0.png").stat().st_mtime_ns == stamps["a0.png"]
    assert _run(str(src), str(out), *BIC2, "--overwrite") == 0
    assert "3 written, 0 skipped" in capsys.readouterr().out


def test_folder_rerun_with_nothing_to_do_loads_no_model(tmp_path: Path, capsys) -> None:
    src, out = _folder(tmp_path, bad=False), tmp_path / "out"
    assert _run(str(src), str(out), *BIC2, "--quiet") == 0
    w = tmp_path / "missing.pt"  # never opened: nothing to do
    assert _run(str(src), str(out), "--weights", str(w), "--scale", "2") == 2  # but a bad path still fails
    assert "no such file" in capsys.readouterr().err


def test_without_weights_lists_trained_weights(tmp_path, monkeypatch, capsys) -> None:
    import torch

    from srlib.models import build_model
    from srlib.weights import save_weights

    results = tmp_path / "results"
    for name, scale in (("mlrn-x2", 2), ("srcnn-x3", 3)):
        run = results / "quick" / "runs" / name
        run.mkdir(parents=True)
        model = name.split("-")[0]
        options = (
            {"channels": [8, 4]} if model == "srcnn" else {"channels": 16, "n_blocks": 1, "reduction": 8}
        )
        torch.manual_seed(0)
        card = {"model": model, "options": options, "scale": scale, "profile": "quick"}
        save_weights(build_model(model, scale, **options), run / f"{model}_x{scale}.pt", card)
    monkeypatch.setenv("SRLIB_RESULTS", str(results))
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    assert _run(str(tmp_path / "a.png"), str(tmp_path / "b.png")) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlib upscale: error: no --weights") and "--model bicubic" in err
    assert str(results / "quick" / "runs" / "mlrn-x2") in err and "srcnn-x3" in err
    assert "--weights " + str(results / "quick" / "runs" / "mlrn-x2") in err  # the example uses MLRN
    assert _run(str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--scale", "3") == 2
    err = capsys.readouterr().err
    assert "srcnn-x3" in err and "mlrn-x2" not in err
    # the run folder itself is accepted as --weights
    assert (
        _run(
            str(tmp_path / "a.png"),
            str(tmp_path / "b.png"),
            "--weights",
            str(results / "quick/runs/srcnn-x3"),
        )
        == 0
    )
    assert Image.open(tmp_path / "b.png").size == (84, 60)


def test_committed_quick_weights_are_listed(tmp_path: Path, monkeypatch, capsys) -> None:
    from srlib.core import paths

    committed = paths.repo_root() / "results" / "quick" / "runs" / "mlrn-x2"
    if not committed.is_dir():
        pytest.skip("no committed quick run in this checkout")
    monkeypatch.delenv("SRLIB_RESULTS", raising=False)
    monkeypatch.chdir(paths.repo_root())
    assert _run(str(tmp_path / "a.png"), str(tmp_path / "b.png")) == 2
    assert "results/quick/runs/mlrn-x2 " in capsys.readouterr().err


def test_weights_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    a, b = str(tmp_path / "a.png"), str(tmp_path / "b.png")
    assert _run(a, b, "--weights", str(tmp_path / "mlrn_x2.pt")) == 2  # a typo in the path
    assert capsys.readouterr().err == f"srlib upscale: error: no such file: {tmp_path / 'mlrn_x2.pt'}\n"
    assert _run(a, b, "--weights", a) == 2  # an image given as weights
    assert "no model card" in capsys.readouterr().err
    (tmp_path / "w.pt").write_bytes(b"junk")
    (tmp_path / "w.json").write_text("{not json")
    assert _run(a, b, "--weights", str(tmp_path / "w.pt")) == 2
    err = capsys.readouterr().err
    assert "not an srlib model card" in err and err.count("\n") == 1
    (tmp_path / "empty").mkdir()
    assert _run(a, b, "--weights", str(tmp_path / "empty")) == 2  # a folder without weights
    assert "holds no trained weights" in capsys.readouterr().err
    assert _run(a, b, *BIC2, "--tile", "big") == 2
    assert "--tile must be" in capsys.readouterr().err
