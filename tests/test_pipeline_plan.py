"""This paper's plan (steps, parameters, paths), the committed notebooks' structure, and the pipeline end to
end from a fresh working directory with the documented `--results` flag."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from srlib.pipeline.kernel import KERNEL_NAME
from srlib.pipeline.params import NOTEBOOK_PARAMS, PARAMS_MARKER, check_params
from srlib.pipeline.plan import plan
from srlib.pipeline.runner import order_steps

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def test_plan_covers_every_cell_and_passes_only_declared_parameters(tmp_path):
    steps = plan("smoke", [2, 3, 4], results_dir=tmp_path, data_dir=tmp_path / "data")
    ids = [s.id for s in steps]
    trains = [i for i in ids if i.startswith("01_train-")]
    evals = [i for i in ids if i.startswith("02_evaluate-")]
    assert len(trains) == 5 * 3 + 3 and len(evals) == 6 * 3 + 3 + 3  # + the released srcnn, vdsr, lapsrn
    assert {"01_train-mlrn-nl-x2", "01_train-mlrn-so-x2", "01_train-mlrn-ms-x2"} <= set(trains)
    assert ids[0] == "00_data" and ids[-3:] == ["03_table1_ablation", "04_table2", "05_figures"]
    assert [s.id for s in order_steps(steps)] == ids
    for step in steps:
        check_params(step.notebook, step.params, complete=True)
    by_id = {s.id: s for s in steps}
    assert by_id["02_evaluate-mlrn-x3"].after == ("00_data", "01_train-mlrn-x3")
    assert by_id["02_evaluate-mlrn-x3"].outputs == (
        tmp_path / "eval" / "mlrn-x3.csv",
        tmp_path / "eval" / "mlrn-x3_means.csv",
    )
    released = by_id["02_evaluate-released-vdsr"]  # smoke: Set5 only, so its own folder
    assert released.params["released"] == "vdsr" and released.params["sets"] == ["Set5"]
    assert released.outputs[0] == tmp_path / "released" / "eval" / "released-vdsr.csv"
    assert "02_evaluate-released-vdsr" in by_id["04_table2"].after
    assert by_id["04_table2"].params["released"] == ["srcnn", "vdsr", "lapsrn"]
    assert released.outputs[1] in by_id["04_table2"].inputs
    assert by_id["01_train-vdsr-x4"].outputs == (tmp_path / "runs" / "vdsr-x4" / "summary.json",)
    assert by_id["04_table2"].outputs == (
        *(tmp_path / f"table2.{e}" for e in ("csv", "md", "tex")),
        tmp_path / "models.csv",
        tmp_path / "models.md",
    )


def test_released_evaluation_folder_follows_the_profiles_coverage(tmp_path, monkeypatch):
    """paper scores every image: its released steps use the shared <results>/released; quick declares an
    Urban100 subset, so its released rows are scored on that subset in its own folder (like for like)."""
    monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path / "all"))
    paper = {s.id: s for s in plan("paper", [2], results_dir=tmp_path / "p")}["02_evaluate-released-lapsrn"]
    assert paper.outputs[2] == tmp_path / "all" / "released" / "eval" / "released-lapsrn.json"
    assert paper.params["sets"] == ["Set5", "Set14", "BSD100", "Urban100"]
    quick = {s.id: s for s in plan("quick", [2], results_dir=tmp_path / "q")}["02_evaluate-released-lapsrn"]
    assert quick.outputs[2] == tmp_path / "q" / "released" / "eval" / "released-lapsrn.json"
    assert quick.params["sets"] == ["Set5", "Set14", "BSD100", "Urban100"]


def test_every_step_gets_the_results_folder(tmp_path):
    """The --results bug: evaluation looked under the checkout's results/ because it was never told."""
    steps = plan("smoke", [2], results_dir=tmp_path / "mine")
    assert {s.params["results_dir"] for s in steps} == {str(tmp_path / "mine")}


def test_plan_leaves_table1_out_without_x2(tmp_path):
    ids = [s.id for s in plan("smoke", [3], results_dir=tmp_path)]
    assert "03_table1_ablation" not in ids and not any("-nl-" in i for i in ids)
    with pytest.raises(ValueError, match="scales"):
        plan("smoke", [5], results_dir=tmp_path)


def test_plan_passes_absolute_paths_to_the_notebooks(tmp_path, monkeypatch):
    """The notebooks run in notebooks/, so a relative profile file or results folder must be resolved; a
    profile file outside srlib is an input of every step."""
    from srlib.train.config import profile_path

    (tmp_path / "mine.json").write_text(profile_path("smoke").read_text())
    monkeypatch.chdir(tmp_path)
    steps = plan("mine.json", [2], results_dir="out", data_dir="d")
    assert steps[0].params["profile"] == str(tmp_path / "mine.json")
    assert steps[0].params["results_dir"] == str(tmp_path / "out")
    assert steps[0].params["data_dir"] == str(tmp_path / "d")
    assert all(Path(p).is_absolute() for s in steps for p in (*s.inputs, *s.outputs))
    assert all(tmp_path / "mine.json" in s.inputs for s in steps)


@pytest.mark.parametrize("name", sorted(NOTEBOOK_PARAMS))
def test_committed_notebook_declares_exactly_its_schema(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: {len(tagged)} cells tagged 'parameters'"
    cell = nb.cells[tagged[0]]
    assert cell.source.startswith(PARAMS_MARKER)
    assigned = {t.id for node in ast.parse(cell.source).body for t in node.targets}
    assert assigned == set(NOTEBOOK_PARAMS[name])
    defaults: dict = {}
    exec(cell.source, {}, defaults)
    check_params(name, defaults, complete=True)
    from papermill.translators import PythonTranslator

    inspected = [p.name for p in PythonTranslator.inspect(cell)]  # what papermill sees (warns on `a = b = c`)
    assert sorted(inspected) == sorted(NOTEBOOK_PARAMS[name]), inspected
    following = nb.cells[tagged[0] + 1].source
    assert f'validate_params("{name}", globals())' in following
    assert "runs = Runs(profile, results_dir, data_dir)" in following
    assert nb.metadata["kernelspec"]["name"] == KERNEL_NAME
    assert any("# NBVAL_CHECK_OUTPUT" in c.source for c in nb.cells if c.cell_type == "code")
    assert "assert" in nb.cells[-1].source, f"{name} must end with its checks"


@pytest.mark.parametrize("name", sorted(NOTEBOOK_PARAMS))
def test_nbval_checks_trained_numbers_with_a_tolerance_not_as_text(name):
    """A cell nbval compares as text must not print a PSNR: `check_smoke` checks it against
    notebooks/smoke_reference.json with a tolerance instead."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        checked = cell.cell_type == "code" and cell.source.startswith("# NBVAL_CHECK_OUTPUT")
        if checked and "psnr" in cell.source and name != "00_data":  # 00_data: Bicubic, no training
            assert f'check_smoke("{name}"' in cell.source, cell.source
            committed = "".join(o.get("text", "") for o in cell.outputs)
            assert "within 0.3 of the committed run" in committed, committed


def test_git_state_dirty_ignores_the_results_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run rewrites results/<profile>/provenance.json; that alone must not mark the checkout dirty."""
    from srlib.core import paths
    from srlib.core.provenance import git_state

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "provenance.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    assert git_state()["dirty"] is False
    (tmp_path / "results" / "provenance.json").write_text('{"run": 2}')
    assert git_state()["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state()["dirty"] is True


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SRLIB_RESULTS", "SRLIB_DATA")}
    clean["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "srlib.cli", *args], cwd=cwd, env={**clean, **env},
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.data
def test_replicate_with_results_flag_from_a_fresh_folder(tmp_path: Path, mirror_dir: Path) -> None:
    """`srlib replicate --results DIR` run outside the checkout trains, evaluates and records into DIR."""
    results, cwd = tmp_path / "results", tmp_path / "elsewhere"
    cwd.mkdir()
    args = ["replicate", "--profile", "smoke", "--scales", "2", "--results", str(results),
            "--data-dir", str(tmp_path / "data"), "--mirror", str(mirror_dir),
            "--only", "02_evaluate-srcnn-x2"]  # fmt: skip
    done = _cli(args, cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (results / "runs" / "srcnn-x2" / "summary.json").is_file()
    assert all((results / "eval" / f).is_file() for f in ("srcnn-x2.csv", "srcnn-x2_means.csv"))
    record = json.loads((results / "steps" / "02_evaluate-srcnn-x2.json").read_text())
    assert record["status"] == "ok" and record["params"]["results_dir"] == "<results>"
    assert not (cwd / "results").exists() and not list(cwd.iterdir())
    # relocatable: the same results folder copied elsewhere is up to date there, and --list says so
    moved = tmp_path / "moved" / "results"
    shutil.copytree(results, moved)
    texts = {f: f.read_text(errors="replace") for f in moved.rglob("*") if f.suffix in (".json", ".csv")}
    assert not [f for f, text in texts.items() if str(tmp_path) in text]
    listed = _cli([*args[:6], str(moved), *args[7:-2], "--list"], cwd)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    states = {line.split()[1]: " ".join(line.split()[2:]) for line in listed.stdout.splitlines()}
    for sid in ("00_data", "01_train-srcnn-x2", "02_evaluate-srcnn-x2"):
        assert states[sid].startswith("up to date"), listed.stdout
    assert states["01_train-mlrn-x2"] == "to run: never ran here", listed.stdout
