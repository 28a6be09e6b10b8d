"""The import rule (docs/architecture.md): srlib's folders are layers and imports only go down.

core -> data, models -> inference, evaluation, weights, released, train -> reports -> pipeline
-> commands/cli. A module may import from its own layer or lower ones; `data` and `models` never import each
other. The test reads every `import` statement (including ones inside functions) with `ast`, so a lazy import
cannot hide a wrong-way dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "srlib"

# Top-level part of srlib (first name after `srlib.`) -> layer. `srlib/__init__.py` is the version only.
LAYERS: dict[str, int] = {
    "core": 0,
    "data": 1,
    "models": 1,
    "inference": 2,
    "evaluation": 2,
    "weights": 2,
    "released": 2,
    "train": 2,
    "reports": 3,
    "pipeline": 4,
    "commands": 5,
    "cli": 5,
}
# Parts of one layer that must still not know each other.
APART = {("data", "models"), ("models", "data")}


def _part(module: str) -> str | None:
    names = module.split(".")
    return names[1] if names[0] == "srlib" and len(names) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from srlib import evaluation` names the part in the alias
            if node.module == "srlib":
                found += [(node.lineno, f"srlib.{alias.name}") for alias in node.names]
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_part_has_a_layer():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in _modules()}
    assert parts - {"__init__"} <= set(LAYERS), f"parts without a layer: {parts - set(LAYERS) - {'__init__'}}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_only_go_down(path: Path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if own == "__init__":
        return
    wrong = []
    for line, module in _imports(path):
        part = _part(module)
        if part is None or part == own or part == "__version__":
            continue
        if part not in LAYERS:
            continue  # `from srlib import __version__` and the like
        if LAYERS[part] > LAYERS[own] or (own, part) in APART:
            wrong.append(f"line {line}: {module} (layer {LAYERS[part]}) from layer {LAYERS[own]}")
    assert not wrong, f"{path.relative_to(PACKAGE)} imports upwards: " + "; ".join(wrong)


def test_the_check_sees_a_wrong_way_import(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from srlib.pipeline.runs import Runs\n    return Runs\n")
    assert [m for _, m in _imports(bad)] == ["srlib.pipeline.runs"]
