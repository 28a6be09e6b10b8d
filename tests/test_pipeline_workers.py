"""How many steps `srlib replicate` runs at once on a CPU and with how many threads (srlib.pipeline.workers):
the default slots per profile and machine, the thread count reaching every kernel, and two 1-thread
trainings side by side giving the weights of a sequential 1-thread run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from srlib.pipeline import workers
from srlib.pipeline.runner import Runner, Step

REPO = Path(__file__).resolve().parents[1]


def _profile(tmp_path: Path, threads: int | None, device: str = "auto") -> Path:
    path = tmp_path / f"p{threads}.json"
    path.write_text(json.dumps({"extends": "smoke", "name": "t", "defaults": {"runtime": {
        "threads": threads, "device": device}}}))  # fmt: skip
    return path


def test_a_profile_that_pins_threads_gets_one_cpu_slot_per_threads_cores(tmp_path, monkeypatch):
    monkeypatch.delenv("SRLIB_DEVICE", raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert workers.profile_threads("quick") == 1  # why quick's weights do not depend on the core count
    assert workers.default_devices("quick", cores=2) == ["cpu", "cpu"]
    assert workers.default_devices("quick", cores=5) == ["cpu"] * 5
    assert workers.default_devices("quick", cores=1) is None  # one slot: the plain sequential run
    assert workers.default_devices(_profile(tmp_path, 2), cores=5) == ["cpu", "cpu"]
    assert workers.default_devices(_profile(tmp_path, 4), cores=7) is None
    # torch's default thread count (every core): sequential, as before
    assert workers.profile_threads("smoke") is None and workers.default_devices("smoke", cores=8) is None
    assert workers.default_devices(_profile(tmp_path, None), cores=8) is None


def test_a_gpu_run_stays_sequential(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(workers, "usable_cores", lambda: 16)
    monkeypatch.setattr("srlib.core.device.resolve_device", lambda spec=None: torch.device("cuda", 0))
    assert workers.default_devices("quick") is None
    monkeypatch.undo()
    monkeypatch.delenv("SRLIB_DEVICE", raising=False)
    assert workers.default_devices(_profile(tmp_path, 1, device="cpu"), cores=3) == ["cpu"] * 3


def test_thread_env_names_what_torch_reads_at_start():
    assert workers.thread_env(1) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert workers.thread_env(None) == {}
    code = "import torch; print(torch.get_num_threads())"
    env = {"PATH": "/usr/bin:/bin", **workers.thread_env(1)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


# writes the OMP_NUM_THREADS the kernel saw and torch's thread count to `out`
THREADS_CELL = (
    "import os, pathlib, torch\n"
    "pathlib.Path(out).write_text(f\"{os.environ.get('OMP_NUM_THREADS')} {torch.get_num_threads()}\")"
)


@pytest.mark.slow
def test_every_kernel_starts_with_the_profile_s_thread_count(tmp_path, write_notebook):
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    write_notebook(nbdir / "t.ipynb", "# Parameters\nout = ''", THREADS_CELL)
    runner = Runner(nbdir, tmp_path / "res", schemas={"t": {"out": str}}, log=lambda line: None, threads=1)
    seq, par = tmp_path / "seq.txt", tmp_path / "par.txt"
    runner.run([Step("t-seq", "t", {"out": str(seq)}, outputs=(seq,))])
    runner.run([Step("t-par", "t", {"out": str(par)}, outputs=(par,))], devices=["cpu", "cpu"])
    assert seq.read_text() == par.read_text() == "1 1"
    rec = json.loads((tmp_path / "res" / "steps" / "t-par.json").read_text())
    assert rec["threads"] == 1 and rec["device"] == "cpu"


@pytest.mark.slow
def test_two_one_thread_trainings_side_by_side_equal_a_sequential_one(tmp_path):
    """Weights do depend on the thread count (docs/benchmarks.md), but not on what else runs beside a
    1-thread training: the reason quick may run two steps at once on 2 cores."""
    from srlib.core.provenance import sha256_file

    def train(out: Path) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "srlib.cli", "train", "--model", "vdsr", "--scale", "2", "--profile",
               "smoke", "--set", "runtime.threads=1", "--set", "iterations=30", "--device", "cpu",
               "--out", str(out), "--no-progress"]  # fmt: skip
        return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    alone = train(tmp_path / "alone")
    assert alone.wait() == 0, alone.stderr.read()
    pair = [train(tmp_path / "a"), train(tmp_path / "b")]
    assert all(p.wait() == 0 for p in pair), [p.stderr.read() for p in pair]
    want = sha256_file(tmp_path / "alone" / "vdsr_x2.pt")
    assert sha256_file(tmp_path / "a" / "vdsr_x2.pt") == sha256_file(tmp_path / "b" / "vdsr_x2.pt") == want
