"""`srlib replicate --devices`: the scheduler's dependency order and failure propagation (fake jobs, no
papermill), the device each kernel is given, and a real smoke run on `--devices cpu cpu` whose means equal a
sequential run's bit for bit."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from srlib.pipeline.schedule import run_scheduled

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Job:
    id: str
    after: tuple[str, ...] = ()


# a -> (b, c) -> d; e independent; f after e
JOBS = [Job("a"), Job("b", ("a",)), Job("c", ("a",)), Job("e"), Job("d", ("b", "c")), Job("f", ("e",))]


def _recorder(devices: list[str], fail: set[str] = frozenset(), sleep: float = 0.05):
    """run_one that logs (start, end, id, device) and checks no device runs more jobs than it is listed."""
    lock, events, busy = threading.Lock(), [], []

    def run_one(job: Job, device: str) -> str:
        with lock:
            assert busy.count(device) < devices.count(device), f"{device} given too many jobs at once"
            busy.append(device)
            events.append(("start", job.id, device))
        time.sleep(sleep)
        with lock:
            busy.remove(device)
            events.append(("end", job.id, device))
        if job.id in fail:
            raise RuntimeError(f"{job.id} broke")
        return f"{job.id}@{device}"

    return run_one, events


def test_jobs_start_only_after_their_dependencies_and_at_most_one_per_device():
    run_one, events = _recorder(["d0", "d1"])
    outcome = run_scheduled(JOBS, ["d0", "d1"], run_one)
    assert set(outcome.results) == {j.id for j in JOBS} and not outcome.failures and not outcome.blocked
    order = [(kind, job) for kind, job, _ in events]
    for job in JOBS:
        for dep in job.after:
            assert order.index(("end", dep)) < order.index(("start", job.id)), (dep, job.id, order)
    # two devices: at most two jobs overlap, and some do (a and e start together)
    running, peak = 0, 0
    for kind, _, _ in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 2
    assert {events[0][1], events[1][1]} == {"a", "e"}


def test_a_failure_stops_its_dependents_and_independent_jobs_go_on():
    run_one, events = _recorder(["cpu", "cpu"], fail={"b"})
    outcome = run_scheduled(JOBS, ["cpu", "cpu"], run_one)  # a device may repeat
    assert set(outcome.failures) == {"b"} and "b broke" in str(outcome.failures["b"])
    assert outcome.blocked == ["d"]
    assert set(outcome.results) == {"a", "c", "e", "f"}
    assert all(job != "d" for _, job, _ in events)


def test_one_device_runs_the_jobs_in_the_given_order():
    run_one, events = _recorder(["cpu"], sleep=0)
    run_scheduled(JOBS, ["cpu"], run_one)
    assert [job for kind, job, _ in events if kind == "start"] == [j.id for j in JOBS]
    with pytest.raises(ValueError, match="at least one device"):
        run_scheduled(JOBS, [], run_one)


def test_auto_means_the_device_the_pipeline_gave(monkeypatch):
    from srlib.core.device import DEVICE_ENV, DeviceError, resolve_device

    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert resolve_device("auto").type == "cpu"
    monkeypatch.setenv(DEVICE_ENV, "cuda:99")
    with pytest.raises(DeviceError, match="cuda:99"):
        resolve_device("auto")
    assert resolve_device("cpu").type == "cpu"  # an explicit device wins
    monkeypatch.delenv(DEVICE_ENV)
    assert resolve_device("auto") == resolve_device(None)


ONLY = ["02_evaluate-srcnn-x2", "02_evaluate-vdsr-x2"]  # with what they need: 00_data and two trainings


def _replicate(root: Path, data: Path, mirror: Path, devices: list[str] | None) -> list[str]:
    from srlib.pipeline.plan import run_pipeline

    lines: list[str] = []
    run_pipeline("smoke", [2], only=ONLY, results_dir=root, data_dir=data, mirror=mirror, devices=devices,
                 log=lines.append)  # fmt: skip
    return lines


@pytest.mark.slow
def test_two_cpu_slots_give_the_sequential_run_s_results_bit_for_bit(tmp_path, mirror_dir, monkeypatch):
    """`--devices cpu cpu` on a smoke plan (two trainings, their evaluations) == the sequential run. Both
    keep torch's default thread count: CPU numerics depend on it (docs/benchmarks.md)."""
    from srlib.core.device import DEVICE_ENV
    from srlib.core.provenance import sha256_file

    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.delenv("SRLIB_RESULTS", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernels import this checkout's srlib
    data = tmp_path / "data"
    seq, par = tmp_path / "sequential", tmp_path / "devices"
    _replicate(seq, data, mirror_dir, None)
    lines = _replicate(par, data, mirror_dir, ["cpu", "cpu"])

    # both trainings ran at once: the second started before the first was done
    started = next(i for i, line in enumerate(lines) if "01_train-vdsr-x2: running" in line)
    finished = next(i for i, line in enumerate(lines) if "01_train-srcnn-x2: done" in line)
    assert started < finished and "on cpu" in lines[started], lines
    for name in ("srcnn-x2", "vdsr-x2"):
        for csv in (f"eval/{name}.csv", f"eval/{name}_means.csv"):
            assert (par / csv).read_bytes() == (seq / csv).read_bytes(), csv
        weights = sorted((seq / "runs" / name).glob("*.pt")) + sorted((seq / "runs" / name).glob("*.pth"))
        for w in weights:
            assert sha256_file(par / w.relative_to(seq)) == sha256_file(w), w
    rec = json.loads((par / "steps" / "01_train-vdsr-x2.json").read_text())
    assert rec["status"] == "ok" and rec["device"] == "cpu"
    assert "device" not in json.loads((seq / "steps" / "01_train-vdsr-x2.json").read_text())


def test_the_runner_reports_every_failure_and_what_it_blocked(tmp_path, monkeypatch):
    """Runner.run_on_devices with a fake step execution: failures in one StepFailed, dependents not run."""
    from srlib.pipeline.runner import Runner, Step, StepFailed, _RunState

    steps = [Step("a", "t", {}), Step("b", "t", {}, after=("a",)), Step("c", "t", {}), Step("d", "t", {})]
    runner = Runner(tmp_path, tmp_path / "res", log=lambda line: None)
    ran: list[tuple[str, str | None]] = []

    def fake_step(state, k, step, device):
        ran.append((step.id, device))
        if step.id in ("a", "c"):
            raise StepFailed(f"step {step.id} failed in cell 3")
        return {"step": step.id}

    monkeypatch.setattr(runner, "_step", fake_step)
    state = _RunState(steps, set(), time.monotonic(), [], 2)
    with pytest.raises(StepFailed) as err:
        runner.run_on_devices(state, ["cuda:0", "cuda:1"])
    lines = str(err.value).splitlines()
    assert lines == ["step a failed in cell 3", "step c failed in cell 3",
                     "not run (a step they depend on failed): b"]  # fmt: skip
    assert sorted(s for s, _ in ran) == ["a", "c", "d"] and ran[:2] == [("a", "cuda:0"), ("c", "cuda:1")]

    ok = [Step("x", "t", {}), Step("y", "t", {}, after=("x",))]
    monkeypatch.setattr(runner, "_step", lambda state, k, step, device: {"step": step.id, "k": k})
    records = runner.run_on_devices(_RunState(ok, set(), time.monotonic(), [], 2), ["cpu", "cpu"])
    assert records == {"x": {"step": "x", "k": 1}, "y": {"step": "y", "k": 2}}
