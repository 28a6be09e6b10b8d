"""The one Markdown table writer: evaluation summaries, Tables 1 and 2 and the model-complexity table.

Floats are rounded as the paper prints them (PSNR 2 decimals, SSIM 4), differences signed, NaN as "-";
strings (pre-formatted cells) pass through unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd

DIGITS: dict[str, int] = {
    "psnr": 2,
    "paper_psnr": 2,
    "diff_psnr": 3,
    "ssim": 4,
    "paper_ssim": 4,
    "diff_ssim": 4,
}


def _cell(column: str, value: object, digits: Mapping[str, int]) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "-"
        places = digits.get(column, 4)
        if column.startswith("diff"):
            return f"{round(float(value), places) + 0.0:+.{places}f}"  # + 0.0: no "-0.000"
        return f"{value:.{places}f}"
    return str(value)


def to_markdown(
    df: pd.DataFrame, digits: Mapping[str, int] | None = None, right: Collection[str] = ()
) -> str:
    """A GitHub Markdown table of `df`: floats by `DIGITS` (updated by `digits`; other float columns 4
    places), `diff*` columns signed; the columns in `right` right-aligned."""
    places = {**DIGITS, **(digits or {})}
    columns = [str(c) for c in df.columns]
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---:" if c in right else "---" for c in columns) + "|"
    body = [
        "| " + " | ".join(_cell(c, v, places) for c, v in zip(columns, row, strict=True)) + " |"
        for row in df.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"
