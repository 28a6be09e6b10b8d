"""The `srlib` command as a user meets it: every expected failure is one line `srlib <command>: error: ...`
on stderr with exit status 2 and no traceback; `--debug` / SRLIB_DEBUG=1 show the traceback; an unavailable
device says what this machine has (srlib.core.device)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srlib.cli import main
from srlib.core.device import DeviceError, resolve_device

ROOT = Path(__file__).resolve().parents[1]


def _srlib(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m srlib.cli ARGV` in a fresh process, from `cwd` (as a user types `srlib ...`)."""
    full = {k: v for k, v in os.environ.items() if k != "SRLIB_DEBUG"}
    full.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "srlib.cli", *argv],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _image(path: Path, hw: tuple[int, int] = (12, 16)) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*hw, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.slow  # fresh processes (torch import each); the in-process tests cover the same paths
def test_missing_weights_is_one_line_then_debug_shows_the_traceback(tmp_path: Path) -> None:
    _image(tmp_path / "a.png")
    argv = ("upscale", "a.png", "b.png", "--weights", "runs/mlrn_x2.pt")
    r = _srlib(*argv, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "srlib upscale: error: no such file: runs/mlrn_x2.pt\n"
    r = _srlib("--debug", *argv, cwd=tmp_path)
    assert (
        r.returncode != 0 and "Traceback (most recent call last)" in r.stderr and "WeightsError" in r.stderr
    )


def test_debug_anywhere_or_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from srlib.weights import WeightsError

    argv = ["upscale", str(_image(tmp_path / "a.png")), str(tmp_path / "b.png"), "--weights", "nope.pt"]
    monkeypatch.delenv("SRLIB_DEBUG", raising=False)
    assert main(argv) == 2 and capsys.readouterr().err == "srlib upscale: error: no such file: nope.pt\n"
    with pytest.raises(WeightsError, match="no such file"):
        main([*argv, "--debug"])  # after the command's own options
    monkeypatch.setenv("SRLIB_DEBUG", "1")
    with pytest.raises(WeightsError):
        main(argv)
    monkeypatch.setenv("SRLIB_DEBUG", "0")
    assert main(argv) == 2


def test_data_not_prepared_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "evaluate",
        "--sets",
        "Set5",
        "--scales",
        "2",
        "--data-dir",
        str(tmp_path / "nodata"),
        "--no-progress",
    ]
    assert main([*argv, "--out", str(tmp_path / "e.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("srlib evaluate: error: Set5 is not prepared in") and "srlib data prepare" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(FileNotFoundError):
        main(["--debug", *argv, "--out", str(tmp_path / "e.csv")])


def test_bad_options_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--sets", "Set6", "--out", str(tmp_path / "e.csv")]) == 2
    assert "srlib evaluate: error: unknown set 'Set6'" in capsys.readouterr().err
    assert main(["train", "--model", "mlrn", "--scale", "2", "--set", "bogus=1", "--show-config"]) == 2
    assert "srlib train: error: unknown config key 'bogus'" in capsys.readouterr().err
    assert main(["data", "prepare", "--sets", "Set6", "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("srlib data prepare: error: unknown dataset 'Set6'")


def test_unknown_option_is_argparse_usage_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["upscale", "a.png", "b.png", "--bogus"])
    assert exc.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


# --- devices -------------------------------------------------------------------------------------------


def _fake_gpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: f"Fake GPU {i}")


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu") == resolve_device(" CPU ")
    auto = resolve_device("auto")
    assert auto == resolve_device(None) and auto.type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("gpu", "cuda:x", "meta", "xpu"):
        with pytest.raises(DeviceError, match="available here: cpu"):
            resolve_device(bad)


def test_cuda_on_a_cpu_only_build(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_gpus(monkeypatch, 0)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(DeviceError, match=r"CPU-only build.*available here: cpu$"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    with pytest.raises(DeviceError, match="sees no GPU"):
        resolve_device("cuda:0")
    assert resolve_device("auto") == torch.device("cpu")


def test_cuda_index_beyond_the_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_gpus(monkeypatch, 1)
    assert resolve_device("cuda") == torch.device("cuda", 0) == resolve_device("auto")
    with pytest.raises(DeviceError, match=r"only 1 CUDA device.*available here: cpu, cuda:0 \(Fake GPU 0\)"):
        resolve_device("cuda:7")


def test_mps_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="MPS"):
        resolve_device("mps")


@pytest.mark.parametrize("command", ["upscale", "evaluate", "train"])
def test_every_command_refuses_an_unavailable_device_in_one_line(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_gpus(monkeypatch, 1)
    image, out = _image(tmp_path / "a.png"), tmp_path / "out"
    argv = {
        "upscale": f"upscale {image} {out}.png --scale 2 --model bicubic",
        "evaluate": f"evaluate --sets Demo --scales 2 --data-dir {tmp_path} --out {out}.csv",
        "train": f"train --model srcnn --scale 2 --profile smoke --out {out} --no-progress",
    }[command].split()
    assert main([*argv, "--device", "cuda:7"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"srlib {command}: error: device 'cuda:7': there is only 1 CUDA device(s); "
        "available here: cpu, cuda:0 (Fake GPU 0)\n"
    )
    assert not list(tmp_path.glob("out*"))


@pytest.mark.slow  # fresh processes (torch import each); the in-process tests cover the same paths
def test_cuda_on_this_cpu_build_through_a_real_process(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _image(tmp_path / "a.png")
    r = _srlib(
        "upscale", "a.png", "b.png", "--scale", "2", "--model", "bicubic", "--device", "cuda", cwd=tmp_path
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("srlib upscale: error: device 'cuda': ") and "available here: cpu" in r.stderr
    assert "AssertionError" not in r.stderr and not (tmp_path / "b.png").exists()


# --- evaluate: where its files go ----------------------------------------------------------------------


@pytest.mark.slow  # fresh processes (torch import each); the in-process tests cover the same paths
def test_evaluate_without_out_writes_to_a_scratch_folder_in_the_cwd(tmp_path: Path) -> None:
    """Run as a user does, from some folder: the CSVs land in ./srlib-eval/, the checkout is not touched."""
    committed = sorted(p.relative_to(ROOT) for p in (ROOT / "results").rglob("*") if p.is_file())
    work = tmp_path / "work"
    work.mkdir()
    argv = (
        "evaluate",
        "--sets",
        "Demo",
        "--scales",
        "2",
        "--data-dir",
        str(tmp_path / "data"),
        "--no-progress",
    )
    r = _srlib(*argv, cwd=work, env={"SRLIB_RESULTS": ""})
    assert r.returncode == 0, r.stderr
    out = work / "srlib-eval" / "bicubic-x2-demo.csv"
    assert out.is_file() and (work / "srlib-eval" / "bicubic-x2-demo_means.csv").is_file()
    assert f"per-image rows: {out}" in r.stdout
    assert sorted(p.relative_to(ROOT) for p in (ROOT / "results").rglob("*") if p.is_file()) == committed


def test_ablation_variants_get_their_own_default_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from srlib.models import build_model
    from srlib.weights import save_weights

    small = {"channels": 16, "n_blocks": 1, "reduction": 8}
    variants = {
        "mlrn-x2": {},
        "mlrn-nl-x2": {"non_local": True, "second_order": False, "multi_scale": False},
        "mlrn-so-ms-x2": {"non_local": False, "second_order": True, "multi_scale": True},
    }
    for run, flags in variants.items():
        torch.manual_seed(0)
        options = {**small, **flags}
        card = {"model": "mlrn", "options": options, "scale": 2, "profile": "quick"}
        save_weights(build_model("mlrn", 2, **options), tmp_path / run / "mlrn_x2.pt", card)
    folder = tmp_path / "data" / "Tiny"
    folder.mkdir(parents=True)
    _image(folder / "img0.png", (36, 48))
    monkeypatch.setattr("srlib.data.benchmark.set_files", lambda name, data_dir=None: [folder / "img0.png"])
    monkeypatch.chdir(tmp_path)
    for run in variants:
        assert main(["evaluate", "--weights", str(tmp_path / run), "--sets", "Tiny", "--no-progress"]) == 0
    capsys.readouterr()
    written = sorted(p.name for p in (tmp_path / "srlib-eval").glob("*.csv") if not p.stem.endswith("_means"))
    assert written == ["mlrn-nl-quick-x2-tiny.csv", "mlrn-quick-x2-tiny.csv", "mlrn-so-ms-quick-x2-tiny.csv"]
    assert set(pd.read_csv(tmp_path / "srlib-eval" / "mlrn-nl-quick-x2-tiny.csv")["model"]) == {"mlrn-nl"}
