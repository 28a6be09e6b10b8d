"""Small rooms (docs/architecture.md): no srlib module over ~500 lines, no function over ~60.

Lines are counted as written, blank lines and comments included; a function's docstring is not counted (a
long "why" is not a long function)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "srlib"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60

MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = node.body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    doc_lines = (first.end_lineno - first.lineno + 1) if docstring else 0
    return node.end_lineno - node.lineno + 1 - doc_lines


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_module_and_functions_are_small(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    lines = source.count("\n")
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines: split it"
    long = [
        f"{node.name} (line {node.lineno}): {_body_lines(node)} lines"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _body_lines(node) > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.relative_to(PACKAGE)}: over {MAX_FUNCTION_LINES} lines: {'; '.join(long)}"
