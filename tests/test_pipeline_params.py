"""Notebook parameters (schemas, `validate_params`, `check_params`) and the Jupyter kernel set-up."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from srlib.pipeline import params as pp
from srlib.pipeline.kernel import ensure_kernel

TINY_SCHEMA = {"x": int, "out": str, "sleep": float}


def _history(*cells: str) -> list[str]:
    """IPython's `In`: an empty first entry, the executed cells, then the validating cell itself."""
    return ["", *cells, "validate_params(...)"]


def _params_cell(body: str) -> str:
    return f"{pp.PARAMS_MARKER}\n{body}"


def test_validate_params_accepts_the_declared_parameters():
    ns = {"x": 3, "out": "f", "sleep": 0.5, "In": _history(_params_cell("x = 1\nout = ''\nsleep = 0.0"))}
    assert pp.validate_params("t", ns, TINY_SCHEMA) == {"x": 3, "out": "f", "sleep": 0.5}


def test_validate_params_rejects_a_mistyped_name_injected_by_papermill():
    injected = "# Parameters\nscal = 3\n"
    ns = {"x": 1, "out": "", "sleep": 0.0, "scal": 3,
          "In": _history(_params_cell("x = 1\nout = ''\nsleep = 0.0"), injected)}  # fmt: skip
    with pytest.raises(pp.ParameterError, match=r"unknown parameter\(s\) scal"):
        pp.validate_params("t", ns, TINY_SCHEMA)


def test_validate_params_rejects_a_name_typed_into_the_parameters_cell():
    ns = {"x": 1, "out": "", "sleep": 0.0, "xx": 2, "In": _history(_params_cell("x = 1\nxx = 2\nout = ''"))}
    with pytest.raises(pp.ParameterError, match="xx"):
        pp.validate_params("t", ns, TINY_SCHEMA)


def test_validate_params_reports_missing_and_mistyped_values():
    with pytest.raises(pp.ParameterError, match=r"missing parameter\(s\) sleep"):
        pp.validate_params("t", {"x": 1, "out": ""}, TINY_SCHEMA)
    with pytest.raises(pp.ParameterError, match=r"x=True is not of type int"):
        pp.validate_params("t", {"x": True, "out": "", "sleep": 1}, TINY_SCHEMA)


def test_validate_params_ignores_later_variables_when_rerun_interactively():
    ns = {"x": 1, "out": "", "sleep": 0.0, "df": object(), "In": _history("df = load()")}
    assert pp.validate_params("t", ns, TINY_SCHEMA)["x"] == 1


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
    assert pp.matches(value, spec) is ok


def test_check_params_names_the_notebook_and_the_declared_names():
    with pytest.raises(
        pp.ParameterError, match=r"notebook 01_train: unknown parameter\(s\) scael.*scale: int"
    ):
        pp.check_params("01_train", {"scael": 2}, complete=False)


def test_every_notebook_takes_the_results_folder():
    """`srlib replicate --results DIR` reaches every step only if every notebook declares `results_dir`."""
    assert all(schema.get("results_dir") is str for schema in pp.NOTEBOOK_PARAMS.values())


def test_ensure_kernel_registers_a_missing_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))
    name = "srlib-test-kernel"
    where = ensure_kernel(name, prefix=str(tmp_path))
    spec = json.loads((Path(where) / "kernel.json").read_text())
    assert Path(where).parent == tmp_path / "share" / "jupyter" / "kernels"
    assert spec["argv"][0] == sys.executable and "ipykernel_launcher" in spec["argv"]
    assert ensure_kernel(name, prefix=str(tmp_path)) == where
