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


RELEASED_PREFIX = "released-"


def released_label(name: str) -> str:
    """The model column of a released model's evaluation rows: `released-<name>` (`released-srcnn`)."""
    from srlib.released import release

    return f"{RELEASED_PREFIX}{release(name).name}"


def released_name(label: str) -> str | None:
    """`srcnn` for the label `released-srcnn`; None for a label that is not a released model's."""
    from srlib.released import RELEASES

    name = str(label)[len(RELEASED_PREFIX) :] if str(label).startswith(RELEASED_PREFIX) else None
    return name if name in RELEASES else None


def paper_row(label: str) -> str:
    """The Table 2 row a model column compares with: its own, or a released model's `paper_model`
    (`released-srcnn` -> `srcnn`); a release without one (`srcnn-915`) keeps its label."""
    from srlib.released import release

    name = released_name(label)
    return (release(name).paper_model or str(label)) if name else str(label)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def compare_with_paper(means: pd.DataFrame, paper_model: str | None = None) -> pd.DataFrame:
    """Our set means (columns model, set, scale, images, psnr, ssim) beside the paper's Table 2: one row per
    mean (columns `LONG_COLUMNS`) with the paper's value, ours - paper and the paper-notes flag.

    Each row is compared with the Table 2 row of its own `model` (a released model's label,
    `released-srcnn`, with its method's row: `paper_row`), or of `paper_model` when given (e.g. a trained
    model evaluated under another label). Sets or scales outside Table 2, and cells the paper lacks,
    have NaN paper values (the note says which).
    """
    own = list(dict.fromkeys(paper_row(m) for m in means["model"].astype(str)))
    models = [paper_model] if paper_model is not None else own
    unknown = [m for m in models if m.lower() not in TABLE2_MODELS]
    if unknown:
        hint = "" if paper_model is not None else "; give paper_model for a label of one of them"
        raise ValueError(f"compare_with_paper: {unknown} not a Table 2 model {TABLE2_MODELS}{hint}")
    records = []
    for row in means.itertuples(index=False):
        scale, set_name = int(row.scale), str(row.set)
        in_table = set_name in TEST_SETS and scale in SCALES
        model = paper_model if paper_model is not None else paper_row(str(row.model))
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
