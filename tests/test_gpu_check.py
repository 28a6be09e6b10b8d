"""The device check (benchmarks/gpu_check.py) at smoke size on the CPU with a tiny budget, and the training
plan (benchmarks/training_plan.py): its arithmetic, and that docs/training.md's plan is the generated one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LEARNED = ("srcnn", "vdsr", "lapsrn", "memnet", "mlrn")


@pytest.fixture(autouse=True)
def _benchmarks_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))


def test_gpu_check_smoke_on_cpu_writes_report_and_record(tmp_path: Path) -> None:
    from benchmarks import gpu_check

    out = tmp_path / "check"
    args = ["--device", "cpu", "--smoke", "--budget-s", "8", "--threads", "1", "--out", str(out)]
    assert gpu_check.main(args) == 0
    record = json.loads((out / "record.json").read_text(encoding="utf-8"))
    assert record["format"] == "srlib-gpu-check/1" and record["smoke"] is True
    env = record["environment"]
    for key in ("device", "device_name", "torch", "cuda", "cpu", "cpu_count", "python"):
        assert key in env, key
    assert env["device"] == "cpu" and env["device_name"] == env["cpu"]
    assert record["tests"] == {"ran": False, "reason": "device cpu"}
    rows = {(r["model"], r["scale"], r.get("variant"), r["mode"]): r for r in record["timings"]}
    # x2 in float32 comes first for every model; the tiny budget may skip later rows, never these
    from srlib.train.config import resolve_config

    for model in LEARNED:
        r = rows[(model, 2, None, "none")]
        smoke = resolve_config(model, 2, "smoke", {})
        assert r["status"] == "ok", r
        assert r["median_ms"] > 0 and r["samples_per_s"] > 0 and r["steps"] >= 3
        assert (r["batch"], r["hr_patch"]) == (smoke["batch_size"], smoke["hr_patch"]), r
        assert r["memory_kind"] == "process peak RSS"
        assert rows[(model, 2, None, "fp16+cl")]["status"] == "unsupported"  # fp16 needs CUDA
    assert {r["status"] for r in record["timings"]} <= {"ok", "unsupported", "skipped"}
    check = record["output_check"]
    assert check["status"] == "ok" and check["steps"] >= 3, check
    bf16 = next(m for m in check["modes"] if m["mode"] == "bf16+cl")
    assert bf16["status"] == "ok" and abs(bf16["inference_delta_db"]) < 1.0
    report = (out / "report.md").read_text(encoding="utf-8")
    headings = ("## Environment", "## CUDA tests", "## Training speed", "## float32 vs mixed", "## Projected")
    for heading in headings:
        assert heading in report
    assert "The whole replication (18 trainings" in report and "| mlrn x2 | none |" in report


def test_training_plan_trainings_and_makespan() -> None:
    from benchmarks import training_plan as plan

    trainings = plan.paper_trainings()
    assert len(trainings) == 18 and len({t.label for t in trainings}) == 18
    assert sum(1 for t in trainings if t.variant) == 3
    # longest first to the least-loaded GPU: 5 | 4+3 | then 3 -> 8, 3 -> 10 (greedy; the optimum is 9)
    assert plan.makespan([5, 4, 3, 3, 3], 2) == 10 and plan.makespan([5, 1], 8) == 5
    assert plan.makespan([2.0] * 4, 1) == 8


def test_training_plan_from_a_record_falls_back_and_marks_it() -> None:
    from benchmarks import training_plan as plan

    record = {
        "environment": {"device_name": "Some GPU", "torch": "2.11", "cuda": "13.0"},
        "created": "today",
        "timings": [
            {"model": m, "scale": 2, "variant": None, "mode": "none", "status": "ok", "median_ms": 100.0}
            for m in LEARNED
        ]
        + [{"model": "mlrn", "scale": 3, "variant": None, "mode": "none", "status": "ok", "median_ms": 50.0}],
    }
    sec = plan.measured_seconds(record, "none", plan.paper_trainings())
    assert sec["mlrn x3"] == (0.05, "") and sec["mlrn x4"] == (0.1, "x2 timing")
    assert sec["mlrn x2 (non_local only)"] == (0.1, "full MLRN timing")
    text = plan.render(record)
    assert "Some GPU" in text and "paper-amp" not in text  # no bf16 timings: no paper-amp column
    assert "| mlrn x3 | 1,000,000 | 0.050 | 13.9 h |" in text
    assert "| 1 | 20.3 d | 20.3 d |" in text  # (17 x 0.1 s + 0.05 s) x 10^6 iterations = 20.25 days


def test_docs_training_plan_is_current() -> None:
    """docs/training.md's plan is what `benchmarks/training_plan.py --write` generates now."""
    from benchmarks import training_plan as plan

    assert plan.main(["--check"]) == 0, "run: PYTHONPATH=. python benchmarks/training_plan.py --write"


def test_gpu_check_writes_its_report_when_a_phase_fails(tmp_path: Path, monkeypatch) -> None:
    """A lent GPU is there for minutes: whatever breaks, the report and record of what ran are written."""
    from benchmarks import gpu_check
    from srlib.data import demo

    def broken(*args, **kwargs):
        raise OSError("no scikit-image data here")

    monkeypatch.setattr(demo, "materialize", broken)
    out = tmp_path / "check"
    assert gpu_check.main(["--device", "cpu", "--smoke", "--budget-s", "5", "--out", str(out)]) == 1
    record = json.loads((out / "record.json").read_text(encoding="utf-8"))
    assert record["fatal"] == "OSError: no scikit-image data here" and "environment" in record
    assert "**The check failed:** OSError" in (out / "report.md").read_text(encoding="utf-8")
