"""Never replace a result by accident with one that covers less.

A notebook run by hand with its small defaults (one scale, Set5) or a partial `srlib replicate --only` writes
the same files as the full pipeline. Before a table, an evaluation, the data record or a figure is replaced,
the writer compares what the old file covers (its (model, scale, set) cells, or named lists such as the
sets or scales of a figure) with what the new one will cover, and refuses when something would be lost:
one line naming the file, what the new one lacks, and how to go ahead anyway.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

OVERWRITE_ENV = "SRLIB_OVERWRITE"
CELL_COLUMNS: tuple[str, ...] = ("model", "scale", "set")
HOW = (
    "write to another results folder (results_dir=... in a notebook, --results DIR for srlib replicate), or "
    f"set {OVERWRITE_ENV}=1 (srlib replicate --overwrite) to replace it"
)


class CoverageError(RuntimeError):
    """A write would replace a result with one covering fewer models, scales or sets."""


def overwrite_allowed() -> bool:
    """`$SRLIB_OVERWRITE` set to 1 / true / yes: replacing with less is what the user asked for."""
    return os.environ.get(OVERWRITE_ENV, "").strip().lower() in ("1", "true", "yes")


def _cells(frame: Any, columns: list[str]) -> set[tuple[str, ...]]:
    return {tuple(str(v) for v in row) for row in frame[columns].itertuples(index=False)}


def _lacking(lost: set[tuple[str, ...]], kept: set[tuple[str, ...]], columns: list[str]) -> str:
    """What the lost cells are, read per column where a whole value disappears ("set Set14, BSD100")."""
    parts = []
    for i, column in enumerate(columns):
        gone = sorted({c[i] for c in lost} - {c[i] for c in kept})
        if gone:
            parts.append(f"{column} {', '.join(gone)}")
    if not parts:
        example = ", ".join(f"{c}={v}" for c, v in zip(columns, sorted(lost)[0], strict=True))
        parts.append(f"{len(lost)} ({', '.join(columns)}) combination(s) such as {example}")
    return "; ".join(parts)


def check_frame(path: str | os.PathLike[str], new: Any, columns: Iterable[str] = CELL_COLUMNS) -> None:
    """Raise CoverageError if the CSV at `path` has a (model, scale, set) cell the frame `new` lacks (only the
    columns both have are compared; an unreadable old file is replaced)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file() or overwrite_allowed():
        return
    try:
        old = pd.read_csv(path)
    except (OSError, ValueError):
        return
    common = [c for c in columns if c in old.columns and c in new.columns]
    if not common:
        return
    before, after = _cells(old, common), _cells(new, common)
    if before - after:
        raise CoverageError(
            f"refusing to replace {path}: the new one lacks {_lacking(before - after, after, common)}; {HOW}"
        )


def check_lists(path: str | os.PathLike[str], old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Raise CoverageError if a list in `old` (what the file at `path` covers, e.g. {"sets": [...]}) has an
    item the same list in `new` lacks."""
    if overwrite_allowed() or not Path(path).is_file():
        return
    lost = {k: sorted(set(map(str, v)) - set(map(str, new.get(k) or []))) for k, v in old.items()}
    lost = {k: v for k, v in lost.items() if v}
    if lost:
        what = "; ".join(f"{k} {', '.join(v)}" for k, v in lost.items())
        raise CoverageError(f"refusing to replace {path}: the new one lacks {what}; {HOW}")


def check_json(path: str | os.PathLike[str], key: str, new: Mapping[str, Any]) -> None:
    """`check_lists` for a JSON file whose `key` maps names to what it covers (data.json: {"sets": {...}})."""
    try:
        old = json.loads(Path(path).read_text(encoding="utf-8")).get(key) or {}
    except (OSError, ValueError, AttributeError):
        return
    check_lists(path, {key: list(old)}, {key: list(new)})
