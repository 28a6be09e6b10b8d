"""The training engine end to end on the embedded Demo set with tiny models (smoke profile): outputs, exact
resume (in-process crash and a real SIGKILL), refused config changes, divergence handling, checkpoint
retention, DDP with 2 gloo processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from srlib.train import ConfigError, TrainingDiverged, train
from srlib.train import checkpoint as ck

REPO = Path(__file__).resolve().parents[1]
MODEL = "srcnn"  # smallest model with parameters and no batch norm
BASE = {"runtime.threads": 1}  # fixed thread count: CPU kernels are then bitwise reproducible


def _weights(path: str | Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_bitwise(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs (max {float((a[k] - b[k]).abs().max())})"


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "srlib.cli", "train", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def test_smoke_run_writes_everything(tmp_path: Path, demo_dir: Path) -> None:
    out = tmp_path / "run"
    s = train(
        MODEL,
        2,
        "smoke",
        {
            **BASE,
            "iterations": 6,
            "runtime.ckpt_every": 2,
            "runtime.keep_last": 2,
            "runtime.val_every": 2,
            "runtime.log_every": 1,
        },
        out,
        data_dir=demo_dir,
    )
    for path in (s.weights, s.card, s.log, s.log_csv, out / "config.json", out / "summary.json"):
        assert Path(path).is_file(), path
    assert not (out / "curve.png").exists()  # figures are the reports layer's (training_curves)
    # last K periodic checkpoints plus the best
    assert [i for i, _ in ck.list_checkpoints(out / "checkpoints")] == [4, 6]
    best = ck.load_checkpoint(out / "checkpoints" / "best.pt")
    vals = [json.loads(x) for x in Path(s.log).read_text().splitlines() if '"val"' in x]
    assert [v["iteration"] for v in vals] == [2, 4, 6]
    assert best["best"]["value"] == max(v["val_psnr"] for v in vals)
    assert best["iteration"] == max(vals, key=lambda v: v["val_psnr"])["iteration"]
    card = json.loads(Path(s.card).read_text())
    assert card["model"] == MODEL and card["scale"] == 2 and card["profile"] == "smoke"
    assert card["training"]["iterations"] == 6 and card["training"]["global_batch_size"] == 4
    assert card["training_data"]["Demo"]["files"] > 0 and len(card["training_data"]["Demo"]["sha256"]) == 64
    assert card["final_metrics"]["psnr"] == pytest.approx(vals[-1]["val_psnr"])
    assert s.final_metrics["val_set"] == "Demo"
    lines = Path(s.log_csv).read_text().splitlines()
    assert lines[0].startswith("iteration,kind,loss,lr") and len(lines) == 1 + 6 + 3
    # checkpoints load with weights_only=True (no pickled code)
    state = torch.load(out / "checkpoints" / "ckpt_00000006.pt", weights_only=True)
    assert state["iteration"] == 6 and state["sampler"]["next_step"] == 6
    _assert_bitwise(state["model"], _weights(s.weights))
    # a finished run is not retrained on resume (also when its summary.json is from a version that still
    # drew the training curve itself and recorded its path)
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps({**json.loads(summary_path.read_text()), "plot": None}))
    again = train(
        MODEL,
        2,
        "smoke",
        {
            **BASE,
            "iterations": 6,
            "runtime.ckpt_every": 2,
            "runtime.keep_last": 2,
            "runtime.val_every": 2,
            "runtime.log_every": 1,
        },
        out,
        resume=True,
        data_dir=demo_dir,
    )
    assert again.weights == s.weights and again.wall_s == s.wall_s


@pytest.mark.parametrize(("model", "scale"), [("mlrn", 2), ("vdsr", 2), ("lapsrn", 3), ("memnet", 2)])
def test_every_model_trains(tmp_path: Path, demo_dir: Path, model: str, scale: int) -> None:
    """Tiny smoke trainings of the other models: multi-output losses (LapSRN levels at x3, MemNet blocks),
    batch norm (MemNet), RGB (MLRN); the loss is finite and the weights change."""
    from srlib.models import build_model
    from srlib.train import resolve_config

    over = {**BASE, "iterations": 3, "validation.set": None}
    s = train(model, scale, "smoke", over, tmp_path / model, data_dir=demo_dir)
    torch.manual_seed(0)
    init = build_model(model, scale, **resolve_config(model, scale, "smoke")["model_options"]).state_dict()
    trained = _weights(s.weights)
    assert any(not torch.equal(init[k], trained[k]) for k in init if init[k].is_floating_point())
    assert s.final_metrics["final_loss"] > 0


def test_bf16_runs_on_cpu_and_the_card_records_the_modes(tmp_path: Path, demo_dir: Path) -> None:
    """bf16 autocast runs on the CPU too (fp16 is CUDA only: tests/test_precision.py); the card says so."""
    over = {
        **BASE,
        "iterations": 2,
        "amp": "bf16",
        "runtime.channels_last": True,
        "runtime.device": "cpu",
        "validation.set": None,
    }
    s = train(MODEL, 2, "smoke", over, tmp_path / "run", data_dir=demo_dir)
    card = json.loads(Path(s.card).read_text())
    training = card["training"]
    assert training["amp"] == "bf16" and training["channels_last"] is True and training["compile"] is False
    assert training["device"] == "cpu"


def test_existing_run_needs_resume(tmp_path: Path, demo_dir: Path) -> None:
    out = tmp_path / "run"
    train(MODEL, 2, "smoke", {**BASE, "iterations": 2}, out, data_dir=demo_dir)
    with pytest.raises(ConfigError, match="resume"):
        train(MODEL, 2, "smoke", {**BASE, "iterations": 2}, out, data_dir=demo_dir)


def test_resume_after_crash_is_bitwise_identical(tmp_path: Path, demo_dir: Path) -> None:
    over = {**BASE, "iterations": 10, "runtime.ckpt_every": 3}
    ref = train(MODEL, 2, "smoke", over, tmp_path / "ref", data_dir=demo_dir)

    def crash(iteration: int, model: torch.nn.Module) -> None:
        if iteration == 8:
            raise KeyboardInterrupt("simulated crash")

    out = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        train(MODEL, 2, "smoke", over, out, data_dir=demo_dir, step_hook=crash)
    assert [i for i, _ in ck.list_checkpoints(out / "checkpoints")] == [3, 6]
    res = train(MODEL, 2, "smoke", over, out, resume=True, data_dir=demo_dir)
    assert res.resumed_from == 6
    _assert_bitwise(_weights(ref.weights), _weights(res.weights))
    a = torch.load(Path(ref.out_dir) / "checkpoints" / "ckpt_00000010.pt", weights_only=True)
    b = torch.load(out / "checkpoints" / "ckpt_00000010.pt", weights_only=True)
    _assert_bitwise(a["model"], b["model"])
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        _assert_bitwise(sa, sb)
    assert a["scheduler"] == b["scheduler"]
    # the log was cut back to the checkpoint and continued: same iterations, same losses
    la = [json.loads(x) for x in Path(ref.log).read_text().splitlines()]
    lb = [json.loads(x) for x in Path(res.log).read_text().splitlines()]
    assert [(r["iteration"], r.get("loss")) for r in la] == [(r["iteration"], r.get("loss")) for r in lb]


def test_resume_with_other_config_is_refused(tmp_path: Path, demo_dir: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(
            MODEL,
            2,
            "smoke",
            {**BASE, "iterations": 6, "runtime.ckpt_every": 2},
            out,
            data_dir=demo_dir,
            step_hook=lambda i, m: (_ for _ in ()).throw(KeyboardInterrupt()) if i == 3 else None,
        )
    with pytest.raises(ConfigError, match=r"optimizer\.lr: 0\.001 -> 0\.002"):
        train(
            MODEL,
            2,
            "smoke",
            {**BASE, "iterations": 6, "runtime.ckpt_every": 2, "optimizer.lr": 0.002},
            out,
            resume=True,
            data_dir=demo_dir,
        )
    # runtime settings (cadence, threads, device) may change on resume
    s = train(
        MODEL,
        2,
        "smoke",
        {**BASE, "iterations": 6, "runtime.ckpt_every": 3},
        out,
        resume=True,
        data_dir=demo_dir,
    )
    assert s.resumed_from == 2


def test_nan_gradient_stops_and_keeps_last_good_checkpoint(tmp_path: Path, demo_dir: Path) -> None:
    out = tmp_path / "run"

    def poison(iteration: int, model: torch.nn.Module) -> None:
        if iteration == 5:
            next(model.parameters()).grad.fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"iteration 5: gradient norm is nan.*ckpt_00000004\.pt"):
        train(
            MODEL,
            2,
            "smoke",
            {**BASE, "iterations": 8, "runtime.ckpt_every": 2},
            out,
            data_dir=demo_dir,
            step_hook=poison,
        )
    assert [i for i, _ in ck.list_checkpoints(out / "checkpoints")] == [2, 4]
    good = ck.load_checkpoint(out / "checkpoints" / "ckpt_00000004.pt")
    assert all(torch.isfinite(v).all() for v in good["model"].values())


def test_exploding_lr_names_the_iteration(tmp_path: Path, demo_dir: Path) -> None:
    with pytest.raises(
        TrainingDiverged, match=r"diverged at iteration \d+: (loss|gradient norm) is (nan|inf)"
    ):
        train(
            MODEL,
            2,
            "smoke",
            {**BASE, "iterations": 20, "optimizer.lr": 1e30},
            tmp_path / "run",
            data_dir=demo_dir,
        )


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_uninterrupted(tmp_path: Path, demo_dir: Path) -> None:
    sets = ["--set", "iterations=200", "--set", "runtime.ckpt_every=5", "--set", "runtime.threads=1"]
    common = [
        "--model",
        MODEL,
        "--scale",
        "2",
        "--profile",
        "smoke",
        "--data-dir",
        str(demo_dir),
        "--no-progress",
        *sets,
    ]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cli([*common, "--out", str(killed)]), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = [i for i, _ in ck.list_checkpoints(killed / "checkpoints")]
            if done and max(done) >= 10:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
    assert not (killed / "summary.json").exists()
    last = max(i for i, _ in ck.list_checkpoints(killed / "checkpoints"))
    assert 10 <= last < 200
    over = {"iterations": 200, "runtime.ckpt_every": 5, "runtime.threads": 1}
    resumed = train(MODEL, 2, "smoke", over, killed, resume=True, data_dir=demo_dir)
    assert resumed.resumed_from == last
    ref = train(MODEL, 2, "smoke", over, tmp_path / "ref", data_dir=demo_dir)
    _assert_bitwise(_weights(ref.weights), _weights(resumed.weights))


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_single_process(tmp_path: Path, demo_dir: Path) -> None:
    """Global batch 4 split 2 x 2 over gloo ranks == one process with batch 4, up to float tolerance."""
    pytest.importorskip("torch.distributed")
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    sets = ["--set", "iterations=6", "--set", "runtime.ckpt_every=3"]
    common = [
        "--model",
        MODEL,
        "--scale",
        "2",
        "--profile",
        "smoke",
        "--data-dir",
        str(demo_dir),
        "--no-progress",
        *sets,
    ]
    ddp = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "srlib.cli",
        "train",
        *common,
        "--out",
        str(ddp),
    ]
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    single = train(
        MODEL, 2, "smoke", {"iterations": 6, "runtime.ckpt_every": 3}, tmp_path / "single", data_dir=demo_dir
    )
    a, b = _weights(single.weights), _weights(ddp / f"{MODEL}_x2.pt")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert not all(torch.equal(a[k], torch.zeros_like(a[k])) for k in a)
    summary = json.loads((ddp / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_batch_size"] == 4
    card = json.loads((ddp / f"{MODEL}_x2.json").read_text())
    assert card["training"]["world_size"] == 2 and card["training"]["global_batch_size"] == 4
