"""`srlib.pipeline.released`: the released weights' evaluation is reused while its record matches (weights
sha256, protocol, sets and image limits, scales, code hash) and computed again, saying why, when one changes.
SRCNN 9-1-5 on the first Set5 image at x2 keeps every evaluation under a second."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import srlib.evaluation
from srlib.pipeline import released

pytestmark = pytest.mark.data
NAME, SETS, ARGS = "srcnn-915", ["Set5"], {"scales": [2], "max_images": 1, "progress": False}


@pytest.fixture(scope="module")
def set5(mirror_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from srlib.data.prepare import prepare

    return prepare(["Set5"], tmp_path_factory.mktemp("data"), mirror_dir, progress=False, offline=True)


@pytest.fixture
def run(set5: Path, weights_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """evaluate_released with the test's data and weights; `.calls` counts real evaluations."""
    calls: list[dict] = []
    real = srlib.evaluation.evaluate

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(srlib.evaluation, "evaluate", counting)

    def call(root: Path, **kwargs):
        opts = {**ARGS, **kwargs}
        return released.evaluate_released(NAME, SETS, root, data_dir=set5, weights_dir=weights_dir, **opts)

    call.calls = calls
    return call


def test_evaluates_then_reuses(run, tmp_path: Path, capsys):
    root = tmp_path / "released"
    means = run(root)
    assert len(run.calls) == 1 and list(means["model"]) == ["released-srcnn-915"]
    assert means["images"].tolist() == [1] and 30 < means["psnr"].iloc[0] < 45
    record = json.loads((root / "eval" / "released-srcnn-915.json").read_text())
    assert record["weights"] == released.weights_sha256(NAME) and len(record["weights"]) == 3
    assert "srcnn/SRCNN_915_91images_x2.mat" in record["weights"]
    assert all(not Path(k).is_absolute() for k in [*record["weights"], *record["outputs"]])
    assert str(tmp_path) not in json.dumps(record)
    assert record["protocol"] == "standard" and record["sets"] == SETS and record["max_images"] == {"Set5": 1}
    assert record["code"] == released.code_hash() and "wall_s" in record and "commit" in record
    assert "evaluating" in capsys.readouterr().out

    again = run(root)
    assert len(run.calls) == 1 and again.equals(means)
    assert "reusing" in capsys.readouterr().out

    moved = tmp_path / "elsewhere"  # relocatable: a copied folder is reused alike
    shutil.copytree(root, moved)
    assert run(moved).equals(means) and len(run.calls) == 1


@pytest.mark.parametrize("change", ["protocol", "code", "weights", "max_images", "outputs"])
def test_recomputes_on_a_change(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, change):
    root = tmp_path / "released"
    run(root)
    capsys.readouterr()
    kwargs = {}
    if change == "protocol":
        kwargs["protocol"] = "authors"
    elif change == "max_images":
        kwargs["max_images"] = 2
    elif change == "code":
        monkeypatch.setattr(released, "code_hash", lambda: "0" * 64)
    elif change == "weights":
        pinned = released.weights_sha256(NAME)
        monkeypatch.setattr(released, "weights_sha256", lambda name: {k: "f" * 64 for k in pinned})
    else:
        means = root / "eval" / "released-srcnn-915_means.csv"
        means.write_text(means.read_text().replace("released-srcnn-915", "edited"))
    run(root, **kwargs)
    assert len(run.calls) == 2
    out = capsys.readouterr().out
    assert "evaluating" in out and (change in out or (change == "outputs" and "not the file" in out))
    run(root, **kwargs)  # the new record matches the new inputs
    assert len(run.calls) == 2


def test_cli(run, set5: Path, weights_dir: Path, tmp_path: Path, capsys):
    argv = ["--name", NAME, "--sets", "Set5", "--root", str(tmp_path), "--data-dir", str(set5),
            "--weights-dir", str(weights_dir), "--scales", "2", "--max-images", "1",
            "--no-progress"]  # fmt: skip
    assert released.main(argv) == 0
    assert "released-srcnn-915" in capsys.readouterr().out
    assert released.main(argv) == 0 and len(run.calls) == 1
    assert released.main([*argv, "--protocol", "authors", "--scales", "3"]) == 2  # would lose x2
    assert "refusing to replace" in capsys.readouterr().err and len(run.calls) == 1
    assert released.main([*argv, "--scales", "5"]) == 2
    assert "no x5 model; scales: [2, 3, 4]" in capsys.readouterr().err


class _Runs:
    """What `released_plan`, `evaluate_for` and `means_for` need of `srlib.pipeline.runs.Runs`."""

    def __init__(self, root: Path, data_dir: Path) -> None:
        self.profile = self.name = "smoke"
        self.root, self.data_dir = root, data_dir


def test_a_subset_profile_reads_the_full_evaluation(
    set5: Path, weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """smoke scores Set5's first 2 images: with the full released evaluation in `<results>/released` it shows
    the means over those 2 images of the full rows, bitwise equal to evaluating them, and evaluates nothing;
    with a stale full evaluation it evaluates its subset in its own folder and leaves the full one alone."""
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SRLIB_WEIGHTS", str(weights_dir))
    name, runs = "srcnn", _Runs(tmp_path / "results" / "smoke", set5)
    assert not released.released_plan(name, "smoke", runs.root).from_full  # no full evaluation yet
    full = released.evaluate_released(name, SETS, released.full_root(), data_dir=set5, progress=False)
    assert full["images"].tolist() == [5, 5, 5]
    plan = released.released_plan(name, "smoke", runs.root)
    assert plan.from_full and plan.root == released.full_root() and plan.max_images == {"Set5": 2}

    calls: list[dict] = []
    real = srlib.evaluation.evaluate
    monkeypatch.setattr(srlib.evaluation, "evaluate", lambda *a, **k: calls.append(k) or real(*a, **k))
    rows = released.evaluate_for(runs, name)
    assert not calls and sorted(rows["image"].unique()) == ["baby", "bird"] and len(rows) == 6
    means, records = released.means_for(runs, [name], SETS)
    direct = released.evaluate_released(name, SETS, tmp_path / "direct", data_dir=set5, max_images=2,
                                        progress=False)  # fmt: skip
    assert len(calls) == 1 and means.equals(direct)
    assert records[name]["subset"] == {"Set5": 2} and records[name]["where"] == "../released"

    before = released.rows_csv(released.full_root(), name).read_bytes()
    monkeypatch.setattr(released, "code_hash", lambda: "0" * 64)  # the full evaluation is now stale
    stale = released.released_plan(name, "smoke", runs.root)
    assert not stale.from_full and stale.root == runs.root / "released"
    released.evaluate_for(runs, name)
    assert len(calls) == 2 and calls[-1]["max_images"] == {"Set5": 2}
    assert released.rows_csv(released.full_root(), name).read_bytes() == before
