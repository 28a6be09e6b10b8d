"""Our set means beside the paper's Table 2: the one join, used by 00_data (Bicubic), 02_evaluate,
`srlib evaluate` and Table 2.

A module of its own (not in `tables`) so that the per-run notebooks do not depend on the table writers: their
skip keys cover the modules they import, and editing how a table is drawn must not re-run every evaluation.
"""

from __future__ import annotations

import math

import pandas as pd

from srlib.core.paper import SCALES, TABLE2_MODELS, TEST_SETS, Cell, table2

LONG_COLUMNS: tuple[str, ...] = (
    "model", "scale", "set", "images", "psnr", "paper_psnr", "diff_psnr", "ssim", "paper_ssim", "diff_ssim",
    "note",
)  # fmt: skip


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def compare_with_paper(means: pd.DataFrame, paper_model: str | None = None) -> pd.DataFrame:
    """Our set means (columns model, set, scale, images, psnr, ssim) beside the paper's Table 2: one row per
    mean (columns `LONG_COLUMNS`) with the paper's value, ours - paper and the paper-notes flag.

    Each row is compared with the Table 2 row of its own `model`, or of `paper_model` when given (e.g. a
    trained model evaluated under another label). Sets or scales outside Table 2, and cells the paper lacks,
    have NaN paper values (the note says which).
    """
    models = [paper_model] if paper_model is not None else list(dict.fromkeys(means["model"].astype(str)))
    unknown = [m for m in models if m.lower() not in TABLE2_MODELS]
    if unknown:
        hint = "" if paper_model is not None else "; give paper_model for a label of one of them"
        raise ValueError(f"compare_with_paper: {unknown} not a Table 2 model {TABLE2_MODELS}{hint}")
    records = []
    for row in means.itertuples(index=False):
        scale, set_name = int(row.scale), str(row.set)
        in_table = set_name in TEST_SETS and scale in SCALES
        model = paper_model if paper_model is not None else str(row.model)
        cell = table2(model, scale, set_name) if in_table else Cell(None, None, "not in Table 2")
        records.append(
            {
                "model": row.model,
                "scale": scale,
                "set": set_name,
                "images": int(row.images),
                "psnr": float(row.psnr),
                "paper_psnr": _nan(cell.psnr),
                "diff_psnr": float(row.psnr) - _nan(cell.psnr),
                "ssim": float(row.ssim),
                "paper_ssim": _nan(cell.ssim),
                "diff_ssim": float(row.ssim) - _nan(cell.ssim),
                "note": cell.note,
            }
        )
    return pd.DataFrame.from_records(records, columns=list(LONG_COLUMNS))
