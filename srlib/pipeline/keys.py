"""Content hashes for the pipeline's skip keys: files and folders (`Hasher`), and the srlib source a notebook
depends on (`SourceIndex`: the import closure of its code cells).

Why an import closure rather than the whole package: a step has to run again when code it executes changed,
and only then. Editing `srlib/reports/figures.py` must re-run the figure step, not 40 trainings and
evaluations. The closure is read with `ast` from the source (imports inside functions included, so a lazy
import cannot hide a dependency), plus the dynamic imports srlib uses: a string constant naming an srlib
module (`"srlib.models.vdsr:VDSR"`) and an f-string import under a package prefix (`f"srlib.train.{name}"`,
which counts as the whole package). Importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py`, so they
and their imports belong to the closure too; a package's data files (`*.tsv`, profile JSONs) come with its
modules.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from srlib.core import paths
from srlib.core.provenance import sha256_file

PACKAGE = "srlib"


class Hasher:
    """sha256 of files and folders, cached by (size, mtime): an input shared by many steps is hashed once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int], str] = {}

    def file(self, path: Path) -> str:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._cache:
            self._cache[key] = sha256_file(path)
        return self._cache[key]

    def tree(self, path: Path) -> str:
        """A file's hash, or a folder's: the hash of its files' relative paths and hashes (hidden skipped)."""
        if path.is_file():
            return self.file(path)
        if not path.is_dir():
            raise FileNotFoundError(path)
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            rel = f.relative_to(path)
            if not any(part.startswith(".") for part in rel.parts):
                h.update(f"{rel.as_posix()}\0{self.file(f)}\n".encode())
        return h.hexdigest()


def notebook_digest(path: Path) -> str:
    """sha256 of what a notebook computes: its code cells' sources and tags (the `parameters` tag decides
    where papermill injects). Saved outputs, execution counts and Markdown are left out, so re-executing the
    committed notebooks or editing their prose does not make a finished run look stale."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [[c.source, sorted(c.metadata.get("tags", []))] for c in nb.cells if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def notebook_code(path: Path) -> str:
    """The code cells of a notebook as one Python source (IPython magics and shell lines dropped)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines += [ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
            lines.append("")
    return "\n".join(lines)


class SourceIndex:
    """srlib's modules under `package_dir` and what each imports, to hash what a notebook depends on."""

    def __init__(self, package_dir: Path = paths.PACKAGE_DIR, hasher: Hasher | None = None) -> None:
        self.package_dir = Path(package_dir)
        self.hasher = hasher or Hasher()
        self._imports: dict[str, set[str]] = {}

    def module_file(self, name: str) -> Path | None:
        """`srlib.a.b` -> `<package_dir>/a/b.py` or `<package_dir>/a/b/__init__.py`; None if neither."""
        parts = name.split(".")
        if parts[0] != PACKAGE or not all(p.isidentifier() for p in parts):
            return None
        base = self.package_dir.joinpath(*parts[1:])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
        return None

    def _package_modules(self, name: str) -> set[str]:
        """Every module in package `name` and its subpackages."""
        base = self.module_file(name)
        if base is None or base.name != "__init__.py":
            return {name} if base is not None else set()
        found = set()
        for f in base.parent.rglob("*.py"):
            if "__pycache__" not in f.parts:
                rel = f.relative_to(self.package_dir).with_suffix("")
                parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
                found.add(".".join((PACKAGE, *parts)))
        return found

    def _resolve(self, module: str, names: Iterable[str] = ()) -> set[str]:
        """The srlib modules an `import module` / `from module import names` loads."""
        if self.module_file(module) is None:
            return set()
        found = {module}
        for name in names:
            if self.module_file(f"{module}.{name}") is not None:
                found.add(f"{module}.{name}")
        return found

    def _relative(self, current: str, level: int, module: str) -> str:
        """The absolute name of `from <level dots><module> import ...` in module `current`."""
        path = self.module_file(current)
        parts = current.split(".")
        keep = len(parts) - level + (1 if path is not None and path.name == "__init__.py" else 0)
        return ".".join([*parts[: max(keep, 0)], *([module] if module else [])])

    def imports_of(self, source: str, current: str = PACKAGE) -> set[str]:
        """srlib modules that `source` (module `current`, for relative imports) imports, statically or by
        the dynamic forms described in the module docstring."""
        found: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found |= self._resolve(alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = self._relative(current, node.level, base)
                found |= self._resolve(base, [a.name for a in node.names])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value.startswith(f"{PACKAGE}."):
                    found |= self._resolve(node.value.split(":")[0])
            elif isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if isinstance(head, ast.Constant) and str(head.value).startswith(f"{PACKAGE}."):
                    found |= self._package_modules(str(head.value).rstrip("."))
        return found

    def _module_imports(self, name: str) -> set[str]:
        if name not in self._imports:
            path = self.module_file(name)
            self._imports[name] = set() if path is None else self.imports_of(path.read_text("utf-8"), name)
        return self._imports[name]

    def closure(self, roots: Iterable[str]) -> set[str]:
        """`roots`, what they import transitively, and the packages (`__init__`) they live in."""
        seen: set[str] = set()
        stack = list(roots)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            parts = name.split(".")
            stack += [".".join(parts[:k]) for k in range(1, len(parts))]
            stack += sorted(self._module_imports(name))
        return seen

    def files(self, modules: Iterable[str]) -> list[Path]:
        """The source files of `modules` and the data files of the packages they are in."""
        files: set[Path] = set()
        for name in modules:
            path = self.module_file(name)
            if path is None:
                continue
            files.add(path)
            files |= _data_files(path.parent)
        return sorted(files)

    def digest(self, modules: Iterable[str]) -> dict[str, str]:
        """{path relative to the package folder: sha256} of `files(modules)`: what a key records."""
        return {f.relative_to(self.package_dir).as_posix(): self.hasher.file(f) for f in self.files(modules)}

    def package_sha256(self) -> str:
        """One sha256 over every srlib source and data file (provenance's version of the whole package)."""
        every = self.closure(self._package_modules(PACKAGE))
        return hashlib.sha256(json.dumps(self.digest(every), sort_keys=True).encode()).hexdigest()

    def notebook_modules(self, notebook: Path) -> set[str]:
        """The import closure of a notebook's code cells."""
        return self.closure(self.imports_of(notebook_code(notebook)))


def _data_files(folder: Path) -> set[Path]:
    """Non-Python files of a package folder and of its plain (non-package) subfolders, hidden ones skipped."""
    found: set[Path] = set()
    for f in folder.iterdir():
        if f.name.startswith(".") or f.name == "__pycache__":
            continue
        if f.is_file() and f.suffix not in (".py", ".pyc"):
            found.add(f)
        elif f.is_dir() and not (f / "__init__.py").exists():
            found |= {p for p in f.rglob("*") if p.is_file() and not p.name.startswith(".")}
    return found


def portable(value: Any, anchors: Mapping[str, Path]) -> Any:
    """`value` (a path, string, or list/dict of them) with every absolute path under an anchor folder written
    as `<name>/relative/path`: what keys and records store, so a results folder means the same anywhere."""
    if isinstance(value, Mapping):
        return {portable(k, anchors): portable(v, anchors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v, anchors) for v in value]
    if not isinstance(value, (str, os.PathLike)) or not os.path.isabs(str(value)):
        return value
    text = str(value)
    for name, base in sorted(anchors.items(), key=lambda kv: -len(str(kv[1]))):
        root = str(base).rstrip(os.sep)
        if text == root:
            return f"<{name}>"
        if text.startswith(root + os.sep):
            return f"<{name}>/{Path(text).relative_to(root).as_posix()}"
    return text


def _names(items: Iterable[str], limit: int = 4) -> str:
    items = sorted(items)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two key payloads (`Runner.key_payload`), as short phrases for `--list`."""
    found = []
    if old.get("notebook") != new.get("notebook"):
        found.append("the notebook changed")
    for part, label in (("params", "parameter"), ("inputs", "input"), ("srlib", "srlib file")):
        a, b = old.get(part) or {}, new.get(part) or {}
        differ = {k for k in {*a, *b} if a.get(k) != b.get(k)}
        if differ:
            found.append(f"{label}(s) {_names(differ)} changed")
    return found
