"""Evaluate a model on the benchmark sets with the literature's protocol (docs/protocol.md).

Per image: HR = modcrop(image, scale); LR = degrade(HR, scale) (MATLAB bicubic, uint8); SR = the model's
output through `srlib.inference.super_resolve`; PSNR and SSIM on Y with `shave = scale`. The result is one
row per (set, scale, image); `set_means` averages them per set and `compare_with_paper` puts the means next to
the paper's Table 2.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from srlib.core import metrics
from srlib.core.atomic import atomic_path, write_text

ModelSpec = str | Callable[[int], nn.Module]
ROW_COLUMNS: tuple[str, ...] = ("model", "set", "scale", "image", "psnr", "ssim", "mode")
MEAN_COLUMNS: tuple[str, ...] = ("model", "set", "scale", "images", "psnr", "ssim")


def _check_scales(scales: Iterable[int]) -> list[int]:
    out = list(scales)
    if not out or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in out):
        raise ValueError(f"evaluate: scales must be a non-empty list of positive integers, got {out!r}")
    return [int(s) for s in dict.fromkeys(out)]


def _model_label(model: ModelSpec, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(model, str):
        return model.lower()
    return getattr(model, "__name__", type(model).__name__)


def _model_builder(model: ModelSpec) -> Callable[[int], nn.Module]:
    if isinstance(model, str):
        from srlib.models import build_model, model_factory

        model_factory(model)  # unknown names fail here, before any data is read
        return lambda scale: build_model(model, scale)
    if not callable(model):
        raise ValueError(f"evaluate: model must be a registry name or a callable(scale), got {model!r}")
    return model


def is_single_channel_file(path: str | os.PathLike[str]) -> bool:
    """Whether an image file stores one (gray) channel, alpha aside: such images are scored on their gray
    level, as the MATLAB scripts behind the published tables do (see docs/protocol.md, "Grayscale")."""
    from PIL import Image

    with Image.open(path) as im:
        bands = [b for b in im.getbands() if b not in ("A", "a")]
    return len(bands) == 1 and bands[0] != "P"


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def evaluate(
    model: ModelSpec,
    scales: Sequence[int],
    sets: Sequence[str],
    data_dir: str | os.PathLike[str] | None = None,
    out_csv: str | os.PathLike[str] | None = None,
    device: str | None = None,
    progress: bool = True,
    self_ensemble: bool = False,
    save_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    max_images: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Score `model` on `sets` at `scales`; returns one row per image (columns `ROW_COLUMNS`).

    `model` is a registry name ("bicubic", "mlrn", ...) or a callable scale -> nn.Module (e.g. one that loads
    a checkpoint); `name` labels the rows (default: the registry name or the callable's `__name__`).
    `out_csv`: write the rows there and the set means beside it (`<stem>_means.csv`), atomically.
    `save_dir`: also write every SR image as `<save_dir>/<set>/x<scale>/<image>.png`.
    `self_ensemble`: x8 geometric self-ensemble in `super_resolve`.
    `max_images`: {set: n} scores only the first n files of that set (manifest order, i.e. sorted), the
    declared evaluation subset of a training profile (`srlib.train.eval_plan`); other sets in full.
    """
    import torch
    from tqdm.auto import tqdm

    from srlib.core.imresize import degrade, modcrop
    from srlib.data.benchmark import set_files
    from srlib.data.images import load_image
    from srlib.inference import super_resolve

    scales = _check_scales(scales)
    set_names = list(dict.fromkeys([sets] if isinstance(sets, str) else sets))
    if not set_names:
        raise ValueError("evaluate: give at least one set")
    label = _model_label(model, name)
    build = _model_builder(model)
    limits = {k.lower(): int(v) for k, v in (max_images or {}).items()}
    files = {s: set_files(s, data_dir)[: limits.get(s.lower())] for s in set_names}
    dev = torch.device(device) if device is not None else None
    nets = {}
    for scale in scales:
        net = build(scale)
        if getattr(net, "scale", scale) != scale:
            raise ValueError(f"evaluate: the model built for x{scale} has scale {net.scale}")
        nets[scale] = net.to(dev).eval() if dev is not None else net.eval()
    sr_options = {"self_ensemble": True} if self_ensemble else {}

    rows: list[dict] = []
    total = sum(len(f) for f in files.values()) * len(scales)
    with tqdm(total=total, desc=f"evaluate {label}", unit="img", disable=not progress) as bar:
        for set_name in set_names:
            for path in files[set_name]:
                image = load_image(path)
                gray = is_single_channel_file(path)
                for scale in scales:
                    bar.set_postfix_str(f"{set_name} x{scale} {path.name}")
                    hr = modcrop(image, scale)
                    result = super_resolve(nets[scale], degrade(hr, scale), device=dev, **sr_options)
                    sr = result.image
                    if sr.shape != hr.shape:
                        raise RuntimeError(f"{label} x{scale} returned {sr.shape} for {path} (HR {hr.shape})")
                    try:
                        scores = (
                            metrics.psnr(sr, hr, shave=scale, grayscale=gray),
                            metrics.ssim(sr, hr, shave=scale, grayscale=gray),
                        )
                    except ValueError as exc:
                        raise ValueError(f"{path} at x{scale}: {exc}") from exc
                    rows.append(
                        {
                            "model": label,
                            "set": Path(path).parent.name,  # the set's canonical name (its folder)
                            "scale": scale,
                            "image": Path(path).stem,
                            "psnr": scores[0],
                            "ssim": scores[1],
                            "mode": result.mode,
                        }
                    )
                    if save_dir is not None:
                        _save_png(Path(save_dir) / set_name / f"x{scale}" / f"{Path(path).stem}.png", sr)
                    bar.update(1)
    df = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    if out_csv is not None:
        write_csv(df, out_csv)
        write_csv(set_means(df), means_path(out_csv))
    return df


def means_path(out_csv: str | os.PathLike[str]) -> Path:
    """Where `evaluate` writes the set means for per-image rows written to `out_csv`."""
    path = Path(out_csv)
    return path.with_name(f"{path.stem}_means{path.suffix or '.csv'}")


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write `df` as CSV atomically (full float precision)."""
    write_text(path, df.to_csv(index=False))


def set_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR/SSIM per (model, set, scale), in the order the rows list them; an image with identical SR
    and HR (PSNR = inf) makes its set's PSNR mean inf, as a plain mean must."""
    missing = set(ROW_COLUMNS[:6]) - set(rows.columns)
    if missing:
        raise ValueError(f"set_means: rows lack columns {sorted(missing)}")
    grouped = rows.groupby(["model", "set", "scale"], sort=False)
    out = grouped.agg(images=("image", "size"), psnr=("psnr", "mean"), ssim=("ssim", "mean")).reset_index()
    return out[list(MEAN_COLUMNS)]


def compare_with_paper(means: pd.DataFrame, paper_model: str | None = None) -> pd.DataFrame:
    """Our set means beside the paper's Table 2 (`srlib.core.paper.table2`): paper value, ours, ours - paper.

    `paper_model` is the Table 2 row to compare with (default: the `model` column, which must then hold one
    Table 2 model). Cells the paper lacks (or sets/scales outside Table 2) have NaN paper values; `note`
    carries the paper-notes flag.
    """
    from srlib.core.paper import SCALES, TABLE2_MODELS, TEST_SETS, Cell, table2

    if paper_model is None:
        labels = means["model"].unique()
        if len(labels) != 1:
            raise ValueError(f"compare_with_paper: several models {list(labels)} in means; give paper_model")
        paper_model = str(labels[0])
    if paper_model.lower() not in TABLE2_MODELS:
        raise ValueError(f"compare_with_paper: {paper_model!r} is not a Table 2 model {TABLE2_MODELS}")
    records = []
    for row in means.itertuples(index=False):
        in_table = str(row.set) in TEST_SETS and int(row.scale) in SCALES
        cell = (
            table2(paper_model, int(row.scale), str(row.set))
            if in_table
            else Cell(None, None, "not in Table 2")
        )
        paper_psnr = math.nan if cell.psnr is None else cell.psnr
        paper_ssim = math.nan if cell.ssim is None else cell.ssim
        records.append(
            {
                "model": row.model,
                "set": row.set,
                "scale": int(row.scale),
                "paper_psnr": paper_psnr,
                "psnr": row.psnr,
                "diff_psnr": row.psnr - paper_psnr,
                "paper_ssim": paper_ssim,
                "ssim": row.ssim,
                "diff_ssim": row.ssim - paper_ssim,
                "note": cell.note,
            }
        )
    return pd.DataFrame.from_records(records)


_DIGITS = {"psnr": 2, "paper_psnr": 2, "diff_psnr": 3, "ssim": 4, "paper_ssim": 4, "diff_ssim": 4}


def to_markdown(df: pd.DataFrame, digits: dict[str, int] | None = None) -> str:
    """A GitHub markdown table of `df`: PSNR with 2 decimals and SSIM with 4 (as the paper), PSNR differences
    with 3 and SSIM differences with 4, signed; other floats with 4; NaN as "-"."""
    digits = {**_DIGITS, **(digits or {})}

    def fmt(col: str, value: object) -> str:
        if isinstance(value, (float, np.floating)):
            if math.isnan(value):
                return "-"
            places = digits.get(col, 4)
            if col.startswith("diff"):
                return f"{round(float(value), places) + 0.0:+.{places}f}"  # + 0.0: no "-0.000"
            return f"{value:.{places}f}"
        return str(value)

    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = [
        "| " + " | ".join(fmt(c, v) for c, v in zip(df.columns, row, strict=True)) + " |"
        for row in df.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"
