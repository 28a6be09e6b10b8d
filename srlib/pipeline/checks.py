"""Notebook checks of measured numbers with a stated tolerance, for nbval.

nbval compares the text of the cells marked `# NBVAL_CHECK_OUTPUT` with the committed notebook. A PSNR printed
to 0.1 dB flips when another CPU rounds a float differently; `near` instead asserts each value is within a
tolerance of the committed run's and returns a line without the values, which nbval can compare exactly.

The committed smoke numbers live in `notebooks/smoke_reference.json` (data, not notebook code: refreshing
them changes no step key). `SRLIB_SMOKE_REFERENCE=record` makes `check_smoke` write the measured values
there instead of checking them (docs/notebooks.md: refreshing the committed notebooks).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from srlib.core import atomic, paths

RECORD_ENV = "SRLIB_SMOKE_REFERENCE"


def near(values: Mapping[str, float], reference: Mapping[str, float], tol: float, what: str = "") -> str:
    """Assert |values[k] - reference[k]| <= tol for every k of `reference` (`values`: a mapping or a pandas
    Series, e.g. `frame.set_index("model")["psnr"]`); return a line naming the keys, not the values."""
    bad = [
        f"{k}: {values.get(k)!r} (committed {ref})"
        for k, ref in reference.items()
        if k not in values or not abs(float(values[k]) - float(ref)) <= tol
    ]
    label = f"{what} " if what else ""
    if bad:
        raise AssertionError(f"{label}differs from the committed run by more than {tol}: {'; '.join(bad)}")
    return f"{label}within {tol} of the committed run for: {', '.join(map(str, reference))}"


def reference_path() -> Path:
    root = paths.repo_root()
    if root is None:
        raise FileNotFoundError("smoke references: notebooks/smoke_reference.json of a source checkout")
    return root / "notebooks" / "smoke_reference.json"


def check_smoke(notebook: str, values: Mapping[str, float], what: str = "PSNR (dB)") -> str:
    """`near(values, <the committed smoke run of notebook>, <its tolerance>)`; with `$SRLIB_SMOKE_REFERENCE`
    set to `record`, store `values` as the new reference (rounded to 0.01) instead, and say so."""
    path = reference_path()
    data = json.loads(path.read_text(encoding="utf-8"))
    if os.environ.get(RECORD_ENV, "").lower() == "record":
        data[notebook] = {str(k): round(float(v), 2) for k, v in dict(values).items()}
        atomic.write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        return f"{what} recorded as the smoke reference for: {', '.join(map(str, data[notebook]))}"
    return near(values, data[notebook], tol=float(data["tolerance"]), what=what)
