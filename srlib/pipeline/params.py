"""Notebook parameters: the declared schema of every notebook and the checks of what papermill passes.

Parameters are checked twice: `Runner` refuses parameters a notebook does not declare before a kernel starts,
and every notebook calls `validate_params` in the cell after its `parameters` cell, so a mistyped name given
to papermill (or typed into the cell) fails loudly instead of being silently ignored.
"""

from __future__ import annotations

import ast
import types
import typing
from collections.abc import Mapping
from typing import Any

# First line of every notebook's `parameters` cell: `validate_params` finds the cell in the kernel's history.
PARAMS_MARKER = "# Parameters of this notebook (papermill overrides them; the next cell validates them)"
# First line of the cell papermill injects after the `parameters` cell.
_INJECTED_MARKER = "# Parameters"

# The declared parameters of every notebook: name -> type (checked by `validate_params` and by `Runner`).
# An empty string for a path means "the default location" (srlib.core.paths / srlib.pipeline.runs.Runs).
_COMMON_PARAMS: dict[str, Any] = {"profile": str, "data_dir": str, "results_dir": str}
_RUN_PARAMS: dict[str, Any] = {
    "model": str,
    "scale": int,
    "non_local": bool,
    "second_order": bool,
    "multi_scale": bool,
}
NOTEBOOK_PARAMS: dict[str, dict[str, Any]] = {
    "00_data": {
        **_COMMON_PARAMS,
        "sets": list[str],
        "bicubic_sets": list[str],
        "scales": list[int],
        "mirror": str,
    },
    "01_train": {
        **_COMMON_PARAMS,
        **_RUN_PARAMS,
        "seed": int,
        "resume": bool,
        "overrides": dict[str, Any],
        "out_dir": str,
    },
    "02_evaluate": {
        **_COMMON_PARAMS,
        **_RUN_PARAMS,
        "sets": list[str],
        "weights": str,
        "out_csv": str,
        "train_missing": bool,
        "released": str,  # an authors' release (srlib.released) instead of model/scale; "" for none
    },
    "03_table1_ablation": {**_COMMON_PARAMS, "train_missing": bool},
    "04_table2": {
        **_COMMON_PARAMS,
        "models": list[str],
        "scales": list[int],
        "sets": list[str],
        "released": list[str],
        "train_missing": bool,
    },
    "05_figures": {
        **_COMMON_PARAMS,
        "models": list[str],
        "scales": list[int],
        "images": dict[str, str],
        "train_missing": bool,
    },
}


class ParameterError(ValueError):
    """A notebook got a parameter it does not declare, lacks one, or got one of the wrong type."""


def type_name(spec: Any) -> str:
    """`int`, `list[str]`, ...: how a declared type reads in an error message."""
    return getattr(spec, "__name__", None) if not typing.get_args(spec) else str(spec).replace("typing.", "")


def matches(value: Any, spec: Any) -> bool:
    """Whether `value` has the declared type `spec` (bool is not an int here; list/dict items are checked)."""
    origin, args = typing.get_origin(spec), typing.get_args(spec)
    if spec is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            matches(k, args[0]) and matches(v, args[1]) for k, v in value.items()
        )
    if spec is type(None):
        return value is None
    if spec is bool:
        return isinstance(value, bool)
    if spec is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if spec is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, spec)


def check_params(
    notebook: str, params: Mapping[str, Any], *, complete: bool, schema: Mapping | None = None
) -> None:
    """Raise ParameterError if `params` has names `notebook` does not declare or values of the wrong type.

    `complete=True` also requires every declared name (a notebook's full namespace); papermill's overrides are
    a subset (`complete=False`).
    """
    declared = NOTEBOOK_PARAMS[notebook] if schema is None else schema
    problems = []
    unknown = sorted(set(params) - set(declared))
    if unknown:
        problems.append(f"unknown parameter(s) {', '.join(unknown)}")
    if complete:
        missing = sorted(set(declared) - set(params))
        if missing:
            problems.append(f"missing parameter(s) {', '.join(missing)}")
    for name, value in params.items():
        if name in declared and not matches(value, declared[name]):
            problems.append(f"{name}={value!r} is not of type {type_name(declared[name])}")
    if problems:
        valid = ", ".join(f"{k}: {type_name(v)}" for k, v in declared.items())
        raise ParameterError(f"notebook {notebook}: {'; '.join(problems)} (declared: {valid})")


def _assigned_names(source: str) -> list[str]:
    """Names assigned at top level in a parameters cell (plain `name = literal` lines)."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _parameter_cells(history: list[str]) -> tuple[str | None, str | None]:
    """(parameters cell, papermill's injected cell) just before the current cell in the kernel's history."""
    previous = history[-2::-1][:2]
    if previous and previous[0].startswith(_INJECTED_MARKER) and not previous[0].startswith(PARAMS_MARKER):
        declared = previous[1] if len(previous) > 1 and previous[1].startswith(PARAMS_MARKER) else None
        return declared, previous[0]
    if previous and previous[0].startswith(PARAMS_MARKER):
        return previous[0], None
    return None, None


def validate_params(
    notebook: str, namespace: Mapping[str, Any], schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check a notebook's parameters inside its kernel; call it in the cell right after the parameters cell.

    Every declared name must be defined with the declared type. When the cells before this one are the
    parameters cell (and papermill's injected cell), a name assigned there that the notebook does not declare
    (a typo such as `scal = 3`) is an error too. `schema` replaces NOTEBOOK_PARAMS[notebook] (for notebooks
    outside the pipeline). Returns the parameters, for the record.
    """
    declared = NOTEBOOK_PARAMS[notebook] if schema is None else schema
    history = namespace.get("In")
    cells = _parameter_cells(list(history)) if isinstance(history, list) else (None, None)
    assigned = [n for src in cells if src for n in _assigned_names(src)]
    params = {name: namespace[name] for name in declared if name in namespace}
    params.update({name: namespace[name] for name in assigned if name in namespace})
    check_params(notebook, params, complete=True, schema=declared)
    return params
