"""The run API: RunSpec ids and variants, the one run layout (`Runs`), and what happens to a run trained
with another config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlib.pipeline.runs import (
    MissingResultError,
    Runs,
    RunSpec,
    run_overrides,
    set_aside_superseded_run,
    table1_specs,
)


def test_runspec_ids_and_variant_overrides():
    full = RunSpec("mlrn", 2)
    nl = RunSpec("mlrn", 2, non_local=True, second_order=False, multi_scale=False)
    assert (full.run_id, full.overrides()) == ("mlrn-x2", {})
    assert nl.run_id == "mlrn-nl-x2" and nl.label == "mlrn-nl"
    assert nl.overrides() == {
        "model_options.non_local": True,
        "model_options.second_order": False,
        "model_options.multi_scale": False,
    }
    assert [v.label for v in table1_specs()] == ["mlrn-nl", "mlrn-so", "mlrn-ms", "mlrn"]
    assert run_overrides(nl, 7, {"iterations": 3})["seed"] == 7
    with pytest.raises(ValueError, match="ablation"):
        RunSpec("vdsr", 2, non_local=False)
    with pytest.raises(ValueError, match="unknown model"):
        RunSpec("srgan", 2)


def test_runspec_from_training_overrides():
    assert RunSpec.from_overrides("mlrn", 3, {"iterations": 5}).run_id == "mlrn-x3"
    assert RunSpec.from_overrides("mlrn", 2, {"model_options.second_order": False}).run_id == "mlrn-nl-ms-x2"
    assert RunSpec.from_overrides("vdsr", 4, {"model_options.non_local": False}).run_id == "vdsr-x4"


def test_runs_own_the_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = Runs("smoke", tmp_path / "r")
    spec = RunSpec("vdsr", 3)
    assert runs.run_dir(spec) == tmp_path / "r" / "runs" / "vdsr-x3"
    assert runs.summary_path(spec) == tmp_path / "r" / "runs" / "vdsr-x3" / "summary.json"
    assert runs.eval_csv(spec) == tmp_path / "r" / "eval" / "vdsr-x3.csv"
    assert runs.means_csv(spec) == tmp_path / "r" / "eval" / "vdsr-x3_means.csv"
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "env"))
    assert Runs("smoke").root == tmp_path / "env" / "smoke"


def test_a_missing_run_names_the_step_and_the_results_folder(tmp_path: Path) -> None:
    runs = Runs("smoke", tmp_path)
    with pytest.raises(MissingResultError, match=rf"--results {tmp_path} --only 01_train-srcnn-x2"):
        runs.weights(RunSpec("srcnn", 2))
    with pytest.raises(MissingResultError, match="for: srcnn-x2, mlrn-x2"):
        runs.means([RunSpec("srcnn", 2), RunSpec("mlrn", 2)], ["Set5"])
    assert runs.logs(["bicubic", "srcnn"], [2]) == {2: {"SRCNN": []}}


def test_a_run_trained_with_another_config_is_set_aside(tmp_path: Path) -> None:
    """After a profile edit, replicate keeps the old run under another name instead of failing to resume."""
    from srlib.train.config import config_hash, resolve_config

    spec = RunSpec("srcnn", 2)
    opts = run_overrides(spec, seed=0)
    out = tmp_path / "runs" / "srcnn-x2"
    out.mkdir(parents=True)
    current = config_hash(resolve_config("srcnn", 2, "smoke", opts))
    (out / "config.json").write_text(json.dumps({"config_hash": current}))
    assert set_aside_superseded_run(out, spec, "smoke", opts) is None and out.is_dir()
    (out / "config.json").write_text(json.dumps({"config_hash": "0123abcd"}))
    (out / "srcnn_x2.pt").write_bytes(b"old weights")
    moved = set_aside_superseded_run(out, spec, "smoke", opts)
    assert moved == tmp_path / "runs" / "srcnn-x2.superseded-0123abcd"
    assert not out.exists() and (moved / "srcnn_x2.pt").read_bytes() == b"old weights"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"config_hash": "0123abcd"}))
    with pytest.raises(FileExistsError, match="already exists"):
        set_aside_superseded_run(out, spec, "smoke", opts)


def test_srlib_train_without_out_trains_into_the_runs_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`srlib train` without --out used to crash (Path(None)); now it uses the run folder replicate uses."""
    from srlib.cli import main

    monkeypatch.chdir(tmp_path)
    common = ["--scale", "2", "--profile", "smoke", "--data-dir", str(tmp_path / "data"), "--no-progress",
              "--set", "iterations=2"]  # fmt: skip
    assert main(["train", "--model", "srcnn", *common, "--results", str(tmp_path / "mine")]) == 0
    assert (tmp_path / "mine" / "runs" / "srcnn-x2" / "summary.json").is_file()
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "env"))
    assert main(["train", "--model", "mlrn", *common, "--set", "model_options.second_order=false"]) == 0
    assert Runs("smoke").root == tmp_path / "env" / "smoke"
    assert (tmp_path / "env" / "smoke" / "runs" / "mlrn-nl-ms-x2" / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "env", "mine"]
