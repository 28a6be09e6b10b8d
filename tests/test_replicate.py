"""The notebook pipeline: parameter validation, step order, content-hash skipping, failure reports, the plan,
and the committed notebooks' structure. Kernel-executing tests use a tiny notebook in tmp_path."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from srlib import replicate as rp

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
TINY_SCHEMA = {"x": int, "out": str, "sleep": float}


# ---------------------------------------------------------------------------------------------- parameters


def _history(*cells: str) -> list[str]:
    """IPython's `In`: an empty first entry, the executed cells, then the validating cell itself."""
    return ["", *cells, "validate_params(...)"]


def _params_cell(body: str) -> str:
    return f"{rp.PARAMS_MARKER}\n{body}"


def test_validate_params_accepts_the_declared_parameters():
    ns = {"x": 3, "out": "f", "sleep": 0.5, "In": _history(_params_cell("x = 1\nout = ''\nsleep = 0.0"))}
    assert rp.validate_params("t", ns, TINY_SCHEMA) == {"x": 3, "out": "f", "sleep": 0.5}


def test_validate_params_rejects_a_mistyped_name_injected_by_papermill():
    injected = "# Parameters\nscal = 3\n"
    ns = {"x": 1, "out": "", "sleep": 0.0, "scal": 3,
          "In": _history(_params_cell("x = 1\nout = ''\nsleep = 0.0"), injected)}  # fmt: skip
    with pytest.raises(rp.ParameterError, match=r"unknown parameter\(s\) scal"):
        rp.validate_params("t", ns, TINY_SCHEMA)


def test_validate_params_rejects_a_name_typed_into_the_parameters_cell():
    ns = {"x": 1, "out": "", "sleep": 0.0, "xx": 2, "In": _history(_params_cell("x = 1\nxx = 2\nout = ''"))}
    with pytest.raises(rp.ParameterError, match="xx"):
        rp.validate_params("t", ns, TINY_SCHEMA)


def test_validate_params_reports_missing_and_mistyped_values():
    with pytest.raises(rp.ParameterError, match=r"missing parameter\(s\) sleep"):
        rp.validate_params("t", {"x": 1, "out": ""}, TINY_SCHEMA)
    with pytest.raises(rp.ParameterError, match=r"x=True is not of type int"):
        rp.validate_params("t", {"x": True, "out": "", "sleep": 1}, TINY_SCHEMA)


def test_validate_params_ignores_later_variables_when_rerun_interactively():
    ns = {"x": 1, "out": "", "sleep": 0.0, "df": object(), "In": _history("df = load()")}
    assert rp.validate_params("t", ns, TINY_SCHEMA)["x"] == 1


@pytest.mark.parametrize(
    ("value", "spec", "ok"),
    [
        (["Set5"], list[str], True),
        (["Set5", 2], list[str], False),
        ({"2": "Set5/baby"}, dict[str, str], True),
        ({2: "Set5/baby"}, dict[str, str], False),
        (2, float, True),
        (False, int, False),
        ("2", int, False),
    ],
)
def test_parameter_types(value, spec, ok):
    assert rp._matches(value, spec) is ok


def test_check_params_names_the_notebook_and_the_declared_names():
    with pytest.raises(
        rp.ParameterError, match=r"notebook 01_train: unknown parameter\(s\) scael.*scale: int"
    ):
        rp.check_params("01_train", {"scael": 2}, complete=False)


# ---------------------------------------------------------------------------------------------- steps


def _step(sid: str, after: tuple[str, ...] = ()) -> rp.Step:
    return rp.Step(sid, sid.split("-")[0], {}, after=after)


def test_order_steps_puts_dependencies_first_and_only_selects_what_is_needed():
    steps = [_step("c", ("b",)), _step("b", ("a",)), _step("a"), _step("d")]
    assert [s.id for s in rp.order_steps(steps)] == ["a", "b", "c", "d"]
    assert [s.id for s in rp.order_steps(steps, only=["b"])] == ["a", "b"]
    with pytest.raises(ValueError, match="unknown step"):
        rp.order_steps(steps, only=["e"])
    with pytest.raises(ValueError, match="cycle"):
        rp.order_steps([_step("a", ("b",)), _step("b", ("a",))])


def test_hasher_tracks_content_and_skips_hidden_files(tmp_path):
    (tmp_path / "a.txt").write_text("1")
    h = rp.Hasher()
    first = h.tree(tmp_path)
    (tmp_path / ".partial.tmp").write_text("x")
    assert rp.Hasher().tree(tmp_path) == first
    (tmp_path / "a.txt").write_text("2")
    assert rp.Hasher().tree(tmp_path) != first


def test_runspec_ids_and_variant_overrides():
    full = rp.RunSpec("mlrn", 2)
    nl = rp.RunSpec("mlrn", 2, non_local=True, second_order=False, multi_scale=False)
    assert (full.run_id, full.overrides()) == ("mlrn-x2", {})
    assert nl.run_id == "mlrn-nl-x2" and nl.label == "mlrn-nl"
    assert nl.overrides() == {
        "model_options.non_local": True,
        "model_options.second_order": False,
        "model_options.multi_scale": False,
    }
    assert [v.label for v in rp.table1_specs()] == ["mlrn-nl", "mlrn-so", "mlrn-ms", "mlrn"]
    assert rp.run_overrides(nl, 7, {"iterations": 3})["seed"] == 7
    with pytest.raises(ValueError, match="ablation"):
        rp.RunSpec("vdsr", 2, non_local=False)
    with pytest.raises(ValueError, match="unknown model"):
        rp.RunSpec("srgan", 2)


# ---------------------------------------------------------------------------------------------- the plan


def test_plan_covers_every_cell_and_passes_only_declared_parameters(tmp_path):
    steps = rp.plan("smoke", [2, 3, 4], results_dir=tmp_path, data_dir=tmp_path / "data")
    ids = [s.id for s in steps]
    trains = [i for i in ids if i.startswith("01_train-")]
    evals = [i for i in ids if i.startswith("02_evaluate-")]
    assert len(trains) == 5 * 3 + 3 and len(evals) == 6 * 3 + 3
    assert {"01_train-mlrn-nl-x2", "01_train-mlrn-so-x2", "01_train-mlrn-ms-x2"} <= set(trains)
    assert ids[0] == "00_data" and ids[-3:] == ["03_table1_ablation", "04_table2", "05_figures"]
    assert [s.id for s in rp.order_steps(steps)] == ids
    for step in steps:
        rp.check_params(step.notebook, step.params, complete=True)
    by_id = {s.id: s for s in steps}
    assert by_id["02_evaluate-mlrn-x3"].after == ("00_data", "01_train-mlrn-x3")
    assert by_id["04_table2"].outputs == (
        *(tmp_path / f"table2.{e}" for e in ("csv", "md", "tex")),
        tmp_path / "models.csv",
        tmp_path / "models.md",
    )


def test_plan_leaves_table1_out_without_x2(tmp_path):
    ids = [s.id for s in rp.plan("smoke", [3], results_dir=tmp_path)]
    assert "03_table1_ablation" not in ids and not any("-nl-" in i for i in ids)
    with pytest.raises(ValueError, match="scales"):
        rp.plan("smoke", [5], results_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("name", sorted(rp.NOTEBOOK_PARAMS))
def test_committed_notebook_declares_exactly_its_schema(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: {len(tagged)} cells tagged 'parameters'"
    cell = nb.cells[tagged[0]]
    assert cell.source.startswith(rp.PARAMS_MARKER)
    assigned = {t.id for node in ast.parse(cell.source).body for t in node.targets}
    assert assigned == set(rp.NOTEBOOK_PARAMS[name])
    defaults = {}
    exec(cell.source, {}, defaults)
    rp.check_params(name, defaults, complete=True)
    from papermill.translators import PythonTranslator

    inspected = [p.name for p in PythonTranslator.inspect(cell)]  # what papermill sees (warns on `a = b = c`)
    assert sorted(inspected) == sorted(rp.NOTEBOOK_PARAMS[name]), inspected
    following = nb.cells[tagged[0] + 1].source
    assert f'validate_params("{name}", globals())' in following
    assert nb.metadata["kernelspec"]["name"] == rp.KERNEL_NAME
    assert any("# NBVAL_CHECK_OUTPUT" in c.source for c in nb.cells if c.cell_type == "code")
    assert "assert" in nb.cells[-1].source, f"{name} must end with its checks"


# ---------------------------------------------------------------------------------------------- the runner


def _tiny_notebook(path: Path) -> None:
    nb = new_notebook(
        cells=[
            new_code_cell(_params_cell("x = 1\nout = ''\nsleep = 0.0"), metadata={"tags": ["parameters"]}),
            new_code_cell(f"import srlib.replicate as rp\nrp.validate_params('t', globals(), {SRC})"),
            new_code_cell("import pathlib, time\ntime.sleep(sleep)\nassert x != 99, 'x is 99'\nif out:\n"
                          "    pathlib.Path(out).write_text(str(x))"),
        ]
    )  # fmt: skip
    nb.metadata["kernelspec"] = {
        "name": rp.KERNEL_NAME,
        "display_name": "Python (srlib)",
        "language": "python",
    }
    nbformat.write(nb, path)


SRC = "{'x': int, 'out': str, 'sleep': float}"  # TINY_SCHEMA as source


def test_runner_skips_done_steps_and_reports_failures(tmp_path):
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    _tiny_notebook(nbdir / "t.ipynb")
    lines: list[str] = []
    runner = rp.Runner(nbdir, tmp_path / "res", cell_timeout=20, schemas={"t": TINY_SCHEMA}, log=lines.append,
                       source="test")  # fmt: skip
    out = tmp_path / "res" / "a.txt"
    ok = rp.Step("t-a", "t", {"x": 5, "out": str(out)}, outputs=(out,))

    runner.run([ok])
    assert out.read_text() == "5"
    rec = json.loads((tmp_path / "res" / "steps" / "t-a.json").read_text())
    assert rec["status"] == "ok" and rec["wall_s"] > 0
    assert (tmp_path / "res" / "notebooks" / "t-a.ipynb").is_file()
    prov = json.loads((tmp_path / "res" / "provenance.json").read_text())
    assert prov["steps"]["t-a"]["key"] == rec["key"] and "torch" in prov["packages"]

    lines.clear()
    runner.run([ok])
    assert any("t-a: up to date, skipped" in line for line in lines), lines

    out.write_text("tampered")  # an output that changed makes the step run again
    assert not runner.up_to_date(ok, runner.key(ok))

    out.write_text("5")
    bad = rp.Step("t-bad", "t", {"x": 99})
    lines.clear()
    with pytest.raises(rp.StepFailed) as err:
        runner.run([ok, bad])
    assert lines[0] == "[1/2] t-a: up to date, skipped"
    assert lines[1].startswith("[2/2] t-bad: running t.ipynb (elapsed 0:00:00, estimated left 0:00:"), lines
    message = str(err.value)
    assert "t-bad failed in cell 3" in message and "AssertionError: x is 99" in message
    assert str(tmp_path / "res" / "notebooks" / "t-bad.ipynb") in message
    assert json.loads((tmp_path / "res" / "steps" / "t-bad.json").read_text())["status"] == "failed"

    silent = rp.Step("t-silent", "t", {"x": 1}, outputs=(tmp_path / "never.txt",))
    with pytest.raises(rp.StepFailed, match=r"produced no .*never\.txt"):
        runner.run([silent])

    slow = rp.Step("t-slow", "t", {"x": 1, "sleep": 60.0})
    runner.cell_timeout = 2
    with pytest.raises(rp.StepFailed, match=r"t-slow failed in cell 3 .*CellTimeoutError"):
        runner.run([slow])


def test_runner_refuses_undeclared_parameters_before_starting_a_kernel(tmp_path):
    runner = rp.Runner(tmp_path, tmp_path / "res", schemas={"t": TINY_SCHEMA}, source="test")
    with pytest.raises(rp.ParameterError, match="scael"):
        runner.run([rp.Step("t-a", "t", {"scael": 2})])


def test_ensure_kernel_registers_a_missing_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))
    name = "srlib-test-kernel"
    where = rp.ensure_kernel(name, prefix=str(tmp_path))
    spec = json.loads((Path(where) / "kernel.json").read_text())
    assert Path(where).parent == tmp_path / "share" / "jupyter" / "kernels"
    assert spec["argv"][0] == sys.executable and "ipykernel_launcher" in spec["argv"]
    assert rp.ensure_kernel(name, prefix=str(tmp_path)) == where


def test_plan_passes_absolute_paths_to_the_notebooks(tmp_path, monkeypatch):
    """The notebooks run in notebooks/, so a relative profile file or results folder must be resolved."""
    from srlib.train.config import profile_path

    (tmp_path / "mine.json").write_text(profile_path("smoke").read_text())
    monkeypatch.chdir(tmp_path)
    steps = rp.plan("mine.json", [2], results_dir="out", data_dir="d")
    assert steps[0].params["profile"] == str(tmp_path / "mine.json")
    assert steps[0].params["out_dir"] == str(tmp_path / "out")
    assert steps[0].params["data_dir"] == str(tmp_path / "d")
    assert all(Path(p).is_absolute() for s in steps for p in (*s.inputs, *s.outputs))


def test_git_state_dirty_ignores_the_results_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run rewrites results/<profile>/provenance.json; that alone must not mark the checkout dirty."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "provenance.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    monkeypatch.setattr(rp.paths, "repo_root", lambda: tmp_path)
    assert rp.git_state()["dirty"] is False
    (tmp_path / "results" / "provenance.json").write_text('{"run": 2}')
    assert rp.git_state()["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert rp.git_state()["dirty"] is True


def test_a_run_trained_with_another_config_is_set_aside(tmp_path: Path) -> None:
    """After a profile edit, replicate keeps the old run under another name instead of failing to resume."""
    from srlib.train.config import config_hash, resolve_config

    spec = rp.RunSpec("srcnn", 2)
    opts = rp.run_overrides(spec, seed=0)
    out = tmp_path / "runs" / "srcnn-x2"
    out.mkdir(parents=True)
    current = config_hash(resolve_config("srcnn", 2, "smoke", opts))
    (out / "config.json").write_text(json.dumps({"config_hash": current}))
    assert rp.set_aside_superseded_run(out, spec, "smoke", opts) is None and out.is_dir()
    (out / "config.json").write_text(json.dumps({"config_hash": "0123abcd"}))
    (out / "srcnn_x2.pt").write_bytes(b"old weights")
    moved = rp.set_aside_superseded_run(out, spec, "smoke", opts)
    assert moved == tmp_path / "runs" / "srcnn-x2.superseded-0123abcd"
    assert not out.exists() and (moved / "srcnn_x2.pt").read_bytes() == b"old weights"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"config_hash": "0123abcd"}))
    with pytest.raises(rp.StepFailed, match="already exists"):
        rp.set_aside_superseded_run(out, spec, "smoke", opts)
