"""Precision and execution modes of training (`amp`, `runtime.channels_last`, `runtime.compile`) against
float32 on the CPU at smoke size, the refusals, and (marked `cuda`, run by benchmarks/gpu_check.py on a GPU
machine) the same comparisons on CUDA including fp16 with its GradScaler.

Every comparison trains the same seeded run twice through `srlib.train.train` (10 steps, one thread) and
compares (a) the first step's gradients, caught by the step hook, and (b) the trained models' outputs on a
fixed input. The learning rate is lowered to 1e-4 (smoke: 1e-3): Adam's first steps move every weight by
about lr whatever the gradient's size, so a rounding-level difference in a near-zero gradient becomes an
lr-sized weight difference; at 1e-4 the comparison measures the precision mode, not that amplification.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from srlib.train import ConfigError, train
from srlib.weights import load_model

LEARNED = ("mlrn", "srcnn", "vdsr", "lapsrn", "memnet")
STEPS = 10
BASE = {"runtime.threads": 1, "iterations": STEPS, "optimizer.lr": 1e-4, "runtime.log_every": 1}
# bf16 keeps 8 significant bits (relative rounding 2^-9 ~ 0.2 %) in every autocast convolution / matmul; over
# a network's depth that is a few tenths of a percent of the signal. Tolerance: the outputs of the bf16- and
# the float32-trained model differ by at most 45 dB PSNR on [0, 1] (RMS difference < 0.6 % of the range;
# measured 58-90 dB on the 2-core dev CPU, docs/benchmarks.md), and the final training loss by at most 2 %.
BF16_MIN_PSNR_DB = 45.0
BF16_LOSS_RTOL = 0.02


def _run(model: str, out: Path, data_dir: Path, **over: Any) -> dict[str, Any]:
    """Train; returns the first step's gradients, the final loss and the model's output on a fixed input."""
    grads: dict[str, torch.Tensor] = {}

    def hook(iteration: int, net: torch.nn.Module) -> None:
        if iteration == 1:
            grads.update({n: p.grad.detach().float().cpu().clone() for n, p in net.named_parameters()})

    s = train(model, 2, "smoke", {**BASE, **over}, out, data_dir=data_dir, progress=False, step_hook=hook)
    net = load_model(s.weights)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, net.in_channels, 24, 24, generator=gen)
    with torch.no_grad():
        y = net(x)
    return {"grads": grads, "loss": s.final_metrics["final_loss"], "out": y}


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float((a - b).square().mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _assert_grads_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], rtol: float) -> None:
    """Every gradient entry agrees to `rtol` x the model's largest gradient entry. (Relative to the model,
    not to each tensor: some gradients are zero in exact arithmetic and pure rounding noise here, e.g. the
    bias of a convolution that a batch norm follows, or of a softmax's logits.)"""
    assert a.keys() == b.keys()
    scale = max(float(g.abs().max()) for g in a.values())
    for name in a:
        diff = float((a[name] - b[name]).abs().max())
        assert diff <= rtol * scale, f"{name}: max difference {diff:.3g} > {rtol} x {scale:.3g}"


@pytest.mark.parametrize("model", LEARNED)
def test_bf16_training_is_close_to_float32(model: str, tmp_path: Path, demo_dir: Path) -> None:
    ref = _run(model, tmp_path / "fp32", demo_dir)
    bf16 = _run(model, tmp_path / "bf16", demo_dir, amp="bf16")
    psnr = _psnr(bf16["out"], ref["out"])
    assert psnr >= BF16_MIN_PSNR_DB, f"{model}: bf16 vs float32 outputs {psnr:.1f} dB"
    assert abs(bf16["loss"] - ref["loss"]) <= BF16_LOSS_RTOL * abs(ref["loss"])
    # the gradients are float32 (the weights stay float32 under autocast)
    assert all(g.dtype == torch.float32 for g in bf16["grads"].values())


@pytest.mark.parametrize("model", LEARNED)
def test_channels_last_gives_the_same_training(model: str, tmp_path: Path, demo_dir: Path) -> None:
    """Same function, other memory layout: only the kernels' summation order differs. The first step's
    gradients agree to 1e-4 of the largest gradient; after 10 steps the outputs agree to 1e-5 --
    except MemNet, whose batch norm in training mode (statistics over 4 patches of 12x12) amplifies rounding
    differences step after step (measured: 63 dB apart after 10 steps), so for it only the first step and a
    loose 50 dB are checked."""
    ref = _run(model, tmp_path / "nchw", demo_dir)
    cl = _run(model, tmp_path / "nhwc", demo_dir, **{"runtime.channels_last": True})
    _assert_grads_close(cl["grads"], ref["grads"], 1e-4)
    if model == "memnet":
        assert _psnr(cl["out"], ref["out"]) >= 50.0
    else:
        assert float((cl["out"] - ref["out"]).abs().max()) <= 1e-5


def _compile_works() -> str | None:
    """None when torch.compile runs here, else why not (no compiler, unsupported Python...)."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    try:
        fn = torch.compile(lambda t: torch.relu(t) + 1)
        fn(torch.zeros(2))
    except Exception as exc:  # the platform's reason, whatever it is
        return f"torch.compile is unavailable here: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None


@pytest.mark.slow  # 40-80 s of compilation on the 2-core dev CPU
def test_compile_gives_the_same_training(tmp_path: Path, demo_dir: Path) -> None:
    reason = _compile_works()
    if reason:
        pytest.skip(reason)
    model = "lapsrn"  # the quickest to compile of the models (no bicubic resize inside its x2 forward)
    ref = _run(model, tmp_path / "eager", demo_dir, iterations=3)
    comp = _run(model, tmp_path / "compiled", demo_dir, iterations=3, **{"runtime.compile": True})
    _assert_grads_close(comp["grads"], ref["grads"], 1e-4)
    assert float((comp["out"] - ref["out"]).abs().max()) <= 1e-5


def test_fp16_needs_cuda(tmp_path: Path, demo_dir: Path) -> None:
    with pytest.raises(ConfigError, match="amp='fp16' needs a CUDA device"):
        over = {**BASE, "amp": "fp16", "runtime.device": "cpu"}
        train("srcnn", 2, "smoke", over, tmp_path, data_dir=demo_dir)


def test_precision_values_are_checked() -> None:
    from srlib.train.config import resolve_config

    with pytest.raises(ConfigError, match="amp must be 'none', 'bf16' or 'fp16'"):
        resolve_config("mlrn", 2, "smoke", {"amp": "fp8"})
    with pytest.raises(ConfigError, match=r"runtime\.channels_last must be true or false"):
        resolve_config("mlrn", 2, "smoke", {"runtime.channels_last": "yes"})


# ------------------------------------------------------------------------------------------ CUDA


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("model", LEARNED)
def test_cuda_mixed_precision_is_close_to_float32(
    model: str, amp: str, tmp_path: Path, demo_dir: Path
) -> None:
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    dev = {"runtime.device": "cuda"}
    ref = _run(model, tmp_path / "fp32", demo_dir, **dev)
    mixed = _run(model, tmp_path / amp, demo_dir, amp=amp, **dev, **{"runtime.channels_last": True})
    # fp16 keeps 11 significant bits (finer than bf16) and its GradScaler skips steps whose scaled gradients
    # overflow while it finds its scale; the float32 reference itself runs cuDNN convolutions in TF32 (10-bit
    # mantissa; torch.backends.cudnn.allow_tf32 is on by default). The bf16 bound holds for all of it.
    psnr = _psnr(mixed["out"], ref["out"])
    assert psnr >= BF16_MIN_PSNR_DB, f"{model} {amp} on CUDA: {psnr:.1f} dB from float32"


@pytest.mark.cuda
@cuda
def test_cuda_float32_matches_cpu(tmp_path: Path, demo_dir: Path) -> None:
    """The CUDA path computes the CPU's function (cuDNN / TF32 rounding aside)."""
    cpu = _run("mlrn", tmp_path / "cpu", demo_dir, **{"runtime.device": "cpu"})
    gpu = _run("mlrn", tmp_path / "gpu", demo_dir, **{"runtime.device": "cuda"})
    assert _psnr(gpu["out"], cpu["out"]) >= BF16_MIN_PSNR_DB
