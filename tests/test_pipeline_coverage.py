"""Committed results are never replaced by accident with ones covering less: a notebook run by hand with
its small defaults, or a partial `srlib replicate --only`, is refused with one line saying how to go ahead
(another results folder, or SRLIB_OVERWRITE=1 / --overwrite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from srlib.core.coverage import OVERWRITE_ENV, CoverageError, check_frame
from srlib.core.paper import TABLE2_MODELS
from srlib.evaluation import set_means
from srlib.pipeline.plan import make_runner, plan
from srlib.pipeline.runs import Runs, RunSpec
from srlib.reports import figures, tables

REPO = Path(__file__).resolve().parents[1]


def _rows(model: str, scale: int, sets: tuple[str, ...] = ("Set5",)) -> pd.DataFrame:
    return pd.DataFrame([{"model": model, "set": s, "scale": scale, "image": f"im{i}", "psnr": 30.0 + i,
                          "ssim": 0.9, "mode": "whole"} for s in sets for i in range(2)])  # fmt: skip


def _full_tree(root: Path) -> None:
    """A smoke results folder with every Table 2 evaluation at x2, x3, x4 and the full Table 2."""
    runs = Runs("smoke", root)
    frames = []
    for scale in (2, 3, 4):
        for model in TABLE2_MODELS:
            rows, spec = _rows(model, scale), RunSpec(model, scale)
            runs.eval_csv(spec).parent.mkdir(parents=True, exist_ok=True)
            rows.to_csv(runs.eval_csv(spec), index=False)
            set_means(rows).to_csv(runs.means_csv(spec), index=False)
            frames.append(set_means(rows))
    tables.write_table2(pd.concat(frames, ignore_index=True), "smoke", root)
    _fake_released(runs)


def _fake_released(runs: Runs) -> None:
    """The released evaluations of Table 2 (fake rows) with records that match: reused, never scored."""
    from srlib.pipeline import released

    for name in released.table2_releases():
        where = released.released_plan(name, runs.profile, runs.root)
        rows = pd.concat([_rows(released.label(name), s) for s in (2, 3, 4)], ignore_index=True)
        released.rows_csv(where.root, name).parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(released.rows_csv(where.root, name), index=False)
        set_means(rows).to_csv(released.means_csv(where.root, name), index=False)
        wanted = released.inputs(name, where.sets, max_images=where.max_images)
        released.write_record(where.root, name, wanted, 0.0)


def test_a_table_covering_fewer_scales_is_refused_unless_forced(tmp_path, monkeypatch):
    _full_tree(tmp_path)
    before = (tmp_path / "table2.csv").read_text()
    x2 = pd.concat([set_means(_rows(m, 2)) for m in TABLE2_MODELS], ignore_index=True)
    with pytest.raises(
        CoverageError, match=rf"table2.csv: the new one lacks scale 3, 4; .*{OVERWRITE_ENV}=1"
    ):
        tables.write_table2(x2, "smoke", tmp_path)
    assert (tmp_path / "table2.csv").read_text() == before
    monkeypatch.setenv(OVERWRITE_ENV, "1")
    tables.write_table2(x2, "smoke", tmp_path)
    assert set(pd.read_csv(tmp_path / "table2.csv")["scale"]) == {2}


def test_an_evaluation_of_fewer_sets_is_refused_before_any_work(tmp_path):
    runs, spec = Runs("smoke", tmp_path, tmp_path / "no-data"), RunSpec("bicubic", 2)
    runs.eval_csv(spec).parent.mkdir(parents=True)
    _rows("bicubic", 2, ("Set5", "Set14")).to_csv(runs.eval_csv(spec), index=False)
    with pytest.raises(CoverageError, match="lacks set Set14"):
        runs.evaluate(spec, ["Set5"])  # no data prepared: it stops before evaluating anything


def test_the_data_record_and_figures_keep_what_they_cover(tmp_path):
    runs = Runs("smoke", tmp_path, tmp_path / "data")
    runs.write_data_record(["Demo"])
    sets = json.loads(runs.data_record.read_text())["sets"]
    runs.data_record.write_text(json.dumps({"sets": {**sets, "Set5": sets["Demo"]}}))
    with pytest.raises(CoverageError, match="lacks sets Set5"):
        runs.write_data_record(["Demo"])
    fig = Figure()
    fig.add_subplot().plot([0, 1])
    path = figures.save(fig, tmp_path / "curves.png", covers={"scales": [2, 3, 4]})
    with pytest.raises(CoverageError, match="lacks scales 3, 4"):
        figures.save(fig, path, covers={"scales": [2]})
    figures.save(fig, path, covers={"scales": [2, 3, 4], "models": ["mlrn"]})  # as much or more: fine


def test_check_frame_names_lost_combinations(tmp_path):
    old = pd.DataFrame({"model": ["a", "b"], "scale": [2, 3], "set": ["Set5", "Set5"]})
    old.to_csv(tmp_path / "t.csv", index=False)
    swapped = pd.DataFrame({"model": ["a", "b"], "scale": [3, 2], "set": ["Set5", "Set5"]})
    with pytest.raises(CoverageError, match=r"2 \(model, scale, set\) combination\(s\) such as model=a"):
        check_frame(tmp_path / "t.csv", swapped)


def _env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SRLIB_RESULTS", OVERWRITE_ENV)}
    return {**clean, "PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_a_hand_run_notebook_does_not_replace_the_full_table(tmp_path):
    """04_table2 run by hand keeps its defaults (x2, Set5): it must not replace a Table 2 of three scales."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    _full_tree(tmp_path / "results")
    before = (tmp_path / "results" / "table2.csv").read_text()
    with pytest.raises(PapermillExecutionError, match="CoverageError"):
        papermill.execute_notebook(
            str(REPO / "notebooks" / "04_table2.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="srlib",
            parameters={"results_dir": str(tmp_path / "results"), "train_missing": False},
            cwd=str(REPO / "notebooks"), progress_bar=False,
        )  # fmt: skip
    assert (tmp_path / "results" / "table2.csv").read_text() == before


@pytest.mark.slow
def test_a_partial_replicate_does_not_replace_the_full_table(tmp_path):
    """`srlib replicate --scales 2 --only 04_table2` on a results folder of three scales is refused."""
    root, data = tmp_path / "results", tmp_path / "data"
    _full_tree(root)
    before = (root / "table2.csv").read_text()
    runner, _ = make_runner("smoke", root, data_dir=data)
    for step in plan("smoke", [2], results_dir=root, data_dir=data):
        if step.notebook in ("00_data", "01_train", "02_evaluate"):  # what 04_table2 needs, recorded as done
            for p in (*step.inputs, *step.outputs):
                p.parent.mkdir(parents=True, exist_ok=True)
                if not p.exists():
                    p.mkdir() if p.parent == data else p.write_text("{}")
            runner.executed_path(step).parent.mkdir(parents=True, exist_ok=True)
            runner.executed_path(step).write_text("{}")
            runner._write_record(step, runner.key(step), "ok", 1.0, outputs=runner._outputs(step))
    done = subprocess.run(
        [sys.executable, "-m", "srlib.cli", "replicate", "--profile", "smoke", "--scales", "2", "--results",
         str(root), "--data-dir", str(data), "--only", "04_table2"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "[1/" in done.stdout and "up to date, skipped" in done.stdout, done.stdout
    assert "04_table2 failed" in done.stderr and "lacks scale 3, 4" in done.stderr, done.stderr
    assert (root / "table2.csv").read_text() == before
