"""Relocatable results: records, keys and run summaries store paths relative to the results folder (or an
anchor such as `<data>`), so a results tree copied to another path is up to date there, a copied run counts
as finished, and `--list` says why a step would run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from srlib.pipeline.params import PARAMS_MARKER
from srlib.pipeline.runner import Runner, Step
from srlib.pipeline.runs import Runs, RunSpec

SCHEMA = {"x": int, "out": str}


def _tree(root: Path, nbdir: Path, x: int = 1) -> tuple[Runner, Step]:
    """A runner and one step whose parameters, input and output are paths under `root`."""
    if not (nbdir / "t.ipynb").is_file():
        nbdir.mkdir(parents=True, exist_ok=True)
        cell = new_code_cell(f"{PARAMS_MARKER}\nx = 1\nout = ''", metadata={"tags": ["parameters"]})
        nbformat.write(new_notebook(cells=[cell]), nbdir / "t.ipynb")
    step = Step("t-a", "t", {"x": x, "out": str(root / "a.txt")}, inputs=(root / "in.txt",),
                outputs=(root / "a.txt",))  # fmt: skip
    return Runner(nbdir, root, schemas={"t": SCHEMA}, anchors={"data": root.parent / "data"}), step


def _finish(runner: Runner, step: Step) -> None:
    """What a successful run leaves: input, output, executed copy and the step record."""
    runner.root.mkdir(parents=True, exist_ok=True)
    (runner.root / "in.txt").write_text("input")
    (runner.root / "a.txt").write_text("output")
    runner.executed_path(step).parent.mkdir(parents=True, exist_ok=True)
    runner.executed_path(step).write_text("{}")
    runner._write_record(step, runner.key(step), "ok", 1.0, outputs=runner._outputs(step))


def test_a_results_tree_copied_elsewhere_is_up_to_date_and_list_says_why_not(tmp_path: Path) -> None:
    here, nbdir = tmp_path / "here" / "results", tmp_path / "nb"
    runner, step = _tree(here, nbdir)
    _finish(runner, step)
    stored = [f.read_text() for f in here.rglob("*.json")]
    assert stored and not [text for text in stored if str(tmp_path) in text]  # no absolute path stored
    assert runner.record(step)["params"]["out"] == "<results>/a.txt"

    there = tmp_path / "elsewhere" / "copy"
    shutil.copytree(here, there)
    moved, moved_step = _tree(there, nbdir)
    assert moved.up_to_date(moved_step, moved.key(moved_step))
    assert moved.explain(moved_step) == "up to date"

    (there / "in.txt").write_text("another input")
    assert moved.explain(moved_step) == "to run: input(s) <results>/in.txt changed"
    (there / "in.txt").write_text("input")
    assert moved.explain(_tree(there, nbdir, x=2)[1]) == "to run: parameter(s) x changed"
    (there / "a.txt").unlink()
    assert moved.explain(moved_step) == "to run: output(s) <results>/a.txt missing"
    (there / "in.txt").unlink()
    assert moved.explain(moved_step).endswith("(not produced yet)")


def test_a_copied_run_counts_as_finished_and_is_not_retrained(tmp_path: Path) -> None:
    spec, fast = RunSpec("srcnn", 2), {"iterations": 2}
    first = Runs("smoke", tmp_path / "a", tmp_path / "data")
    first.train(spec, overrides=fast)
    summary = json.loads(first.summary_path(spec).read_text())
    assert summary["weights"] == "srcnn_x2.pt" and summary["out_dir"] == "." and summary["log"] == "log.jsonl"

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    copied = Runs("smoke", tmp_path / "b", tmp_path / "data")
    assert copied.trained_weights(spec) == tmp_path / "b" / "runs" / "srcnn-x2" / "srcnn_x2.pt"
    log = copied.run_dir(spec) / "log.jsonl"
    before = log.read_bytes()
    again = copied.train(spec, overrides=fast)
    assert Path(again.weights) == copied.trained_weights(spec) and log.read_bytes() == before

    # a summary.json of an older srlib holds absolute paths of the machine that wrote it
    old = {**summary, "weights": "/elsewhere/results/runs/srcnn-x2/srcnn_x2.pt"}
    copied.summary_path(spec).write_text(json.dumps(old))
    assert copied.trained_weights(spec) == tmp_path / "b" / "runs" / "srcnn-x2" / "srcnn_x2.pt"
