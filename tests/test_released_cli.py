"""The released weights through the command line (`srlib.cli.main`), from a temporary working directory:
`srlib weights prepare | verify | list`, `srlib models`, `srlib evaluate --released`, `srlib upscale
--released`. SRCNN 9-1-5 (the smallest release) keeps the evaluations quick."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from srlib.cli import main

pytestmark = pytest.mark.data


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("SRLIB_WEIGHTS", "SRLIB_WEIGHTS_MIRROR", "SRLIB_WEIGHTS_URL_BASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "results"))
    return tmp_path


@pytest.fixture(scope="module")
def set5(mirror_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from srlib.data.prepare import prepare

    return prepare(["Set5"], tmp_path_factory.mktemp("data"), mirror_dir, progress=False, offline=True)


def test_weights_prepare_verify_list(cwd: Path, weights_mirror: Path, capsys):
    assert main(["weights", "prepare", "srcnn-915", "--weights-dir", "w", "--offline", "--no-progress"]) == 1
    assert "--mirror" in capsys.readouterr().err
    args = ["--weights-dir", "w"]
    assert main(["weights", "prepare", "srcnn-915", "vdsr", *args, "--mirror", str(weights_mirror)]) == 0
    assert "4 released weight files" in capsys.readouterr().out
    assert main(["weights", "verify", "srcnn-915", *args]) == 0
    assert main(["weights", "list", *args]) == 0
    out = capsys.readouterr().out
    assert "srcnn-915  x2 x3 x4   fetched" in out and "lapsrn     x2 x3 x4   not fetched" in out
    path = cwd / "w" / "srcnn" / "SRCNN_915_91images_x3.mat"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    assert main(["weights", "verify", "srcnn-915", *args]) == 1
    assert "SRCNN_915_91images_x3.mat" in capsys.readouterr().out
    assert main(["weights", "prepare", "nope", *args]) == 1
    assert "valid: srcnn, srcnn-915, vdsr, lapsrn" in capsys.readouterr().err


def test_models_lists_the_releases(cwd: Path, capsys):
    assert main(["models", "--weights-dir", str(cwd / "empty")]) == 0
    out = capsys.readouterr().out
    assert "srcnn: in_channels=1, kernel_sizes=(9, 5, 5)" in out
    for name in ("srcnn ", "srcnn-915", "vdsr", "lapsrn"):
        assert f"\n{name}" in out
    assert out.count("not fetched") == 4 and "srlib weights prepare" in out


@pytest.fixture
def weights(cwd: Path, weights_mirror: Path) -> Path:
    shutil.copytree(weights_mirror / "srcnn", cwd / "w" / "srcnn")
    return cwd / "w"


def test_evaluate_released_both_protocols(weights: Path, set5: Path, capsys):
    base = ["evaluate", "--released", "srcnn-915", "--weights-dir", str(weights), "--sets", "Set5",
            "--data-dir", str(set5), "--scales", "2", "--no-progress"]  # fmt: skip
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "Protocol: standard" in out and "released-srcnn-915" in out
    standard = pd.read_csv("srlib-eval/released-srcnn-915-x2-set5_means.csv")  # the default --out
    assert main([*base, "--protocol", "authors", "--out", "a.csv", "--tile", "64"]) == 0
    assert "Protocol: authors -- SRCNN's and VDSR's test code" in capsys.readouterr().out
    rows = pd.read_csv("a.csv")
    assert list(rows.image) == ["baby", "bird", "butterfly", "head", "woman"]
    assert set(rows["mode"]) >= {"tiled"}  # baby (512x512) is tiled at 64 LR pixels
    authors = pd.read_csv("a_means.csv")
    # the protocols differ, by a few hundredths of a dB (docs/protocol.md)
    assert 0.005 < abs(float(authors.psnr[0]) - float(standard.psnr[0])) < 0.2


def test_evaluate_released_errors(weights: Path, set5: Path, capsys):
    """Each refusal is one line on stderr and exit status 2 (srlib.cli), naming what is wrong."""
    base = ["evaluate", "--weights-dir", str(weights), "--sets", "Set5", "--data-dir", str(set5)]
    cases = [
        (["--released", "vdsr", "--scales", "8"], "released vdsr has no x8 model"),
        (["--released", "vdsr", "--scales", "2", "--no-progress"],
         r"VDSR_Official\.mat: released weights not found; `srlib weights prepare"),
        (["--model", "bicubic", "--protocol", "authors"],
         "protocol 'authors' has conventions for srcnn, vdsr, lapsrn"),
        (["--released", "edsr"], "unknown released model 'edsr'"),
    ]  # fmt: skip
    for extra, message in cases:
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert re.search(message, err) and "Traceback" not in err, err


def test_upscale_released(weights: Path, set5: Path, capsys):
    src = set5 / "Set5" / "bird.png"
    assert main(["upscale", str(src), "out.png", "--released", "srcnn-915", "--scale", "3",
                 "--weights-dir", str(weights), "--quiet"]) == 0  # fmt: skip
    with Image.open(src) as a, Image.open("out.png") as b:
        assert b.size == (a.size[0] * 3, a.size[1] * 3)
    assert (
        main(["upscale", str(src), "out2.png", "--released", "srcnn-915", "--weights-dir", str(weights)]) == 2
    )
    assert "needs --scale" in capsys.readouterr().err
