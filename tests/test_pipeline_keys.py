"""Per-step skip keys: a step's key covers the srlib modules its notebook imports (transitively), so editing
the figure module re-runs only the figure step and editing the table module only the table steps.

The keys of the real smoke plan and the real notebooks are computed against a copy of the srlib source (the
checkout is never edited), with the files each step reads faked, as after a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from srlib.core import paths
from srlib.pipeline.plan import anchors, plan
from srlib.pipeline.runner import Runner, Step

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Step], Path, Path]:
    tmp = tmp_path_factory.mktemp("keys")
    pkg = tmp / "src" / "srlib"
    shutil.copytree(paths.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    with pytest.MonkeyPatch.context() as mp:  # the shared released evaluation too: never the checkout's
        mp.setenv("SRLIB_RESULTS", str(tmp / "results"))
        steps = plan("smoke", [2, 3, 4], results_dir=tmp / "results", data_dir=tmp / "data")
    for step in steps:  # what the upstream steps would have written
        for p in step.inputs:
            assert tmp in p.parents, f"{p} is outside the test's folder: faking it would overwrite it"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"output of an upstream step: {p.name}\n")
    return steps, pkg, tmp / "results"


def _runner(pkg: Path, root: Path) -> Runner:
    return Runner(NOTEBOOKS, root, package_dir=pkg, anchors=anchors(data_dir=root.parent / "data"))


def _keys(steps: list[Step], pkg: Path, root: Path) -> dict[str, str]:
    runner = _runner(pkg, root)
    return {s.id: runner.key(s) for s in steps}


def _changed_by_editing(planned: tuple[list[Step], Path, Path], module: str) -> set[str]:
    steps, pkg, root = planned
    before = _keys(steps, pkg, root)
    path = pkg / module
    original = path.read_text()
    path.write_text(original + "\n# an edit\n")
    try:
        after = _keys(steps, pkg, root)
    finally:
        path.write_text(original)
    return {sid for sid in before if before[sid] != after[sid]}


def test_editing_figures_changes_only_the_figure_step(planned):
    assert _changed_by_editing(planned, "reports/figures.py") == {"05_figures"}


def test_editing_tables_changes_only_the_table_and_figure_steps(planned):
    # 05_figures labels the released models' panels with tables.display_name (Table 2's row names)
    changed = _changed_by_editing(planned, "reports/tables.py")
    assert changed == {"03_table1_ablation", "04_table2", "05_figures"}


def test_editing_the_paper_join_changes_the_steps_that_compare_with_the_paper(planned):
    changed = _changed_by_editing(planned, "reports/compare.py")
    evaluations = {s.id for s in planned[0] if s.notebook == "02_evaluate"}
    assert changed == {"00_data", "03_table1_ablation", "04_table2", "05_figures", *evaluations}


def test_editing_a_command_changes_no_key_and_editing_training_changes_every_step(planned):
    assert _changed_by_editing(planned, "commands/upscale.py") == set()
    assert _changed_by_editing(planned, "train/trainer.py") == {s.id for s in planned[0]}


def test_a_key_records_which_srlib_files_it_covers(planned):
    steps, pkg, root = planned
    runner = _runner(pkg, root)
    figures = runner.key_payload(next(s for s in steps if s.id == "05_figures"))["srlib"]
    train = runner.key_payload(next(s for s in steps if s.notebook == "01_train"))["srlib"]
    assert "reports/figures.py" in figures and "reports/figures.py" not in train
    assert "models/mlrn.py" in train and "train/profiles/smoke.json" in train  # registry and data files
    assert not any(f.startswith(("commands/", "cli.py")) for f in figures)


def test_keys_hold_no_absolute_path(planned):
    """Relocatable results: the key of every step names paths relative to the results or data folder."""
    steps, pkg, root = planned
    runner = _runner(pkg, root)
    for step in steps:
        payload = json.dumps(runner.key_payload(step))
        assert str(root.parent) not in payload and str(NOTEBOOKS.parent) not in payload, (step.id, payload)
    assert runner.key_payload(steps[0])["params"]["data_dir"] == "<data>"


def test_notebook_key_ignores_outputs_and_prose(tmp_path):
    """Re-executing a notebook (new outputs, counts) or editing its Markdown keeps its step key; code not."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from srlib.pipeline.keys import notebook_digest

    def write(md: str, code: str, outputs: list, tags: list[str]) -> str:
        cell = new_code_cell(code, metadata={"tags": tags}, execution_count=len(outputs) or None)
        cell.outputs = outputs
        path = tmp_path / "nb.ipynb"
        nbformat.write(new_notebook(cells=[new_markdown_cell(md), cell]), path)
        return notebook_digest(path)

    base = write("# one", "x = 1", [], ["parameters"])
    printed = [new_output("stream", name="stdout", text="1\n")]
    assert write("# two, reworded", "x = 1", printed, ["parameters"]) == base
    assert write("# one", "x = 2", [], ["parameters"]) != base
    assert write("# one", "x = 1", [], []) != base  # the parameters tag decides where papermill injects
