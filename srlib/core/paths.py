"""Where srlib keeps data and results, so notebooks, CLI and tests agree on one place."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the srlib package (this file is srlib/core/paths.py)


def repo_root() -> Path | None:
    """The source checkout srlib runs from, or None for a plain (non-editable) install."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


def _default(sub: str) -> Path:
    root = repo_root()
    return root / sub if root is not None else Path.home() / ".cache" / "srlib" / sub


def data_dir() -> Path:
    """`$SRLIB_DATA`, else the checkout's `data/`, else `~/.cache/srlib/data`."""
    return Path(os.environ.get("SRLIB_DATA") or _default("data"))


def results_dir() -> Path:
    """`$SRLIB_RESULTS`, else the checkout's `results/`, else `~/.cache/srlib/results`."""
    return Path(os.environ.get("SRLIB_RESULTS") or _default("results"))


def mirror_dir() -> Path | None:
    """A local mirror of the datasets (`$SRLIB_MIRROR`), laid out as `<mirror>/<Set>/<file>`."""
    value = os.environ.get("SRLIB_MIRROR")
    return Path(value) if value else None


def weights_dir() -> Path:
    """Where released weights live (`srlib weights prepare`): `$SRLIB_WEIGHTS`, else the checkout's
    `weights/` (git-ignored), else `~/.cache/srlib/weights`."""
    return Path(os.environ.get("SRLIB_WEIGHTS") or _default("weights"))


def weights_mirror_dir() -> Path | None:
    """A local mirror of the released weights (`$SRLIB_WEIGHTS_MIRROR`), laid out as
    `<mirror>/<folder>/<file>` like `../shared/weights`."""
    value = os.environ.get("SRLIB_WEIGHTS_MIRROR")
    return Path(value) if value else None
