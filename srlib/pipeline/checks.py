"""Notebook checks of measured numbers with a stated tolerance, for nbval.

nbval compares the text of the cells marked `# NBVAL_CHECK_OUTPUT` with the committed notebook. A PSNR printed
to 0.1 dB flips when another CPU rounds a float differently; `near` instead asserts each value is within a
tolerance of the committed run's and returns a line without the values, which nbval can compare exactly.
"""

from __future__ import annotations

from collections.abc import Mapping


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
