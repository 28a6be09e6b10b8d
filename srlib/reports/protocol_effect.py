"""The protocol-effect table: the authors' released weights under both protocols beside the published number.

`measure` evaluates every released model (`srlib.released`) on the test sets under the `standard` and the
`authors` protocol (`srlib.core.protocol`) through the one evaluation core (`srlib.evaluation.evaluate`);
`effect_table` puts the set means side by side with the methods' published numbers
(`srlib.core.paper.published`); `write` stores, under `results/released/` by default:

- `protocol_effect_rows.csv`: one row per (model, protocol, set, scale, image);
- `protocol_effect.csv` / `.md`: model x set x scale with standard, authors and published PSNR/SSIM and the
  differences (the Markdown is the table docs/protocol.md shows);
- `protocol_effect.json`: provenance -- weights sha256 per file, each protocol's conventions, git commit
  (`srlib.core.provenance`), package versions, machine and run time.

Run: `python -m srlib.reports.protocol_effect --sets Set5 Set14 [--models srcnn vdsr] [--out DIR]`;
`--from-rows` rebuilds the table from the committed per-image rows without measuring (the provenance file
stays the measurement's); `--docs docs/protocol.md` also puts the Markdown table between the
`<!-- protocol-effect -->` markers there (`splice`), so the documentation shows the committed measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srlib.core import atomic, paths, provenance
from srlib.core.paper import SCALES, published
from srlib.core.protocol import AUTHORS, LAPSRN_GRAY, PROTOCOLS, STANDARD
from srlib.evaluation import evaluate, set_means
from srlib.released import RELEASE_NAMES, load_released, release, weights_sha256
from srlib.reports.markdown import to_markdown

EFFECT_COLUMNS: tuple[str, ...] = (
    "model", "set", "scale", "images", "standard_psnr", "authors_psnr", "published_psnr",
    "diff_authors_published", "diff_standard_authors", "standard_ssim", "authors_ssim", "published_ssim",
    "diff_ssim_authors_published", "ssim", "note",
)  # fmt: skip
SSIM_KIND = {"srcnn": "ssim_index", "vdsr": "ssim_index", "lapsrn": "MATLAB ssim"}


def measure(
    models: Sequence[str] = RELEASE_NAMES,
    sets: Sequence[str] = ("Set5", "Set14"),
    scales: Sequence[int] = SCALES,
    *,
    weights_dir: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    protocols: Sequence[str] = PROTOCOLS,
    progress: bool = True,
) -> pd.DataFrame:
    """Per-image rows (`srlib.evaluation.ROW_COLUMNS` + `protocol`) of every released model under every
    protocol."""
    frames = []
    for name in models:
        for protocol in protocols:

            def load(scale: int, name: str = name) -> Any:
                return load_released(name, scale, weights_dir)

            rows = evaluate(
                load, scales, sets, data_dir=data_dir, progress=progress, name=name, protocol=protocol
            )
            frames.append(rows.assign(protocol=protocol))
    return pd.concat(frames, ignore_index=True)


def effect_table(rows: pd.DataFrame) -> pd.DataFrame:
    """model x set x scale: the means under each protocol, the published number and the differences."""
    means = {p: set_means(rows[rows.protocol == p]).set_index(["model", "set", "scale"]) for p in PROTOCOLS}
    records = []
    for (model, set_name, scale), std in means["standard"].iterrows():
        auth = means["authors"].loc[(model, set_name, scale)]
        paper_model = release(model).paper_model
        cell = published(paper_model, int(scale), set_name) if paper_model else None
        pub_psnr = np.nan if cell is None or cell.psnr is None else cell.psnr
        pub_ssim = np.nan if cell is None or cell.ssim is None else cell.ssim
        records.append({
            "model": model, "set": set_name, "scale": int(scale), "images": int(std.images),
            "standard_psnr": std.psnr, "authors_psnr": auth.psnr, "published_psnr": pub_psnr,
            "diff_authors_published": auth.psnr - pub_psnr, "diff_standard_authors": std.psnr - auth.psnr,
            "standard_ssim": std.ssim, "authors_ssim": auth.ssim, "published_ssim": pub_ssim,
            "diff_ssim_authors_published": auth.ssim - pub_ssim, "ssim": SSIM_KIND[release(model).model],
            "note": (cell.note if cell is not None else "no published number (not a Table 2 model)"),
        })  # fmt: skip
    return pd.DataFrame(records, columns=list(EFFECT_COLUMNS))


def markdown(table: pd.DataFrame) -> str:
    digits = {c: 2 for c in ("standard_psnr", "authors_psnr", "published_psnr")}
    digits |= {"diff_authors_published": 3, "diff_standard_authors": 3, "diff_ssim_authors_published": 4}
    digits |= {c: 4 for c in ("standard_ssim", "authors_ssim", "published_ssim")}
    return to_markdown(table, digits=digits)


def provenance_record(
    models: Sequence[str], sets: Sequence[str], scales: Sequence[int], seconds: float, state: dict[str, Any]
) -> dict:
    """What `write` records beside the table; `state` is the git state taken when the measurement began."""
    return {
        "what": "released weights under the standard and the authors protocol",
        "code": "srlib.reports.protocol_effect",
        "models": {m: {"title": release(m).title, "weights_sha256": weights_sha256(m)} for m in models},
        "sets": list(sets),
        "scales": [int(s) for s in scales],
        "protocols": {"standard": STANDARD.summary}
        | {f"authors:{k}": v.summary for k, v in AUTHORS.items()}
        | {"authors:lapsrn, gray file at x3": LAPSRN_GRAY.summary},
        "git": state,
        "commit": provenance.commit_label(state),
        "packages": provenance.package_versions(),
        "device": provenance.device_info(),
        "seconds": round(seconds, 1),
    }


def write(
    out_dir: str | os.PathLike[str] | None = None,
    models: Sequence[str] = RELEASE_NAMES,
    sets: Sequence[str] = ("Set5", "Set14"),
    scales: Sequence[int] = SCALES,
    **options: Any,
) -> pd.DataFrame:
    """`measure`, then the files listed in the module docstring in `out_dir` (default results/released)."""
    out = Path(out_dir) if out_dir is not None else paths.results_dir() / "released"
    start, state = time.perf_counter(), provenance.git_state()
    rows = measure(models, sets, scales, **options)
    table = effect_table(rows)
    seconds = time.perf_counter() - start
    atomic.write_text(out / "protocol_effect_rows.csv", rows.to_csv(index=False))
    _write_table(out, table)
    record = provenance_record(models, sets, scales, seconds, state)
    atomic.write_text(out / "protocol_effect.json", json.dumps(record, indent=2) + "\n")
    return table


def _write_table(out: Path, table: pd.DataFrame) -> None:
    atomic.write_text(out / "protocol_effect.csv", table.to_csv(index=False))
    atomic.write_text(out / "protocol_effect.md", markdown(table))


def render(out_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The table again from the per-image rows `write` stored in `out_dir` (no measurement)."""
    out = Path(out_dir) if out_dir is not None else paths.results_dir() / "released"
    table = effect_table(pd.read_csv(out / "protocol_effect_rows.csv"))
    _write_table(out, table)
    return table


MARK_BEGIN, MARK_END = "<!-- protocol-effect: begin -->", "<!-- protocol-effect: end -->"


def splice(doc: str | os.PathLike[str], table_md: str) -> None:
    """Replace the text between the two markers of `doc` by `table_md` (atomically)."""
    path = Path(doc)
    text = path.read_text(encoding="utf-8")
    begin, end = text.find(MARK_BEGIN), text.find(MARK_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{path}: no {MARK_BEGIN} ... {MARK_END} block to put the table in")
    atomic.write_text(path, text[: begin + len(MARK_BEGIN)] + "\n" + table_md + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srlib.reports.protocol_effect", description=__doc__)
    parser.add_argument("--models", nargs="+", default=list(RELEASE_NAMES), choices=RELEASE_NAMES)
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    parser.add_argument("--scales", nargs="+", type=int, default=list(SCALES))
    parser.add_argument("--out", help="output folder (default: <results>/released)")
    parser.add_argument("--weights-dir", help="released weights folder (default: $SRLIB_WEIGHTS or weights/)")
    parser.add_argument("--data-dir", help="data folder (default: $SRLIB_DATA or data/)")
    parser.add_argument("--docs", help="also splice the table into this Markdown file (between the markers)")
    parser.add_argument(
        "--from-rows", action="store_true", help="no measurement: rebuild the table from OUT's per-image rows"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.from_rows:
        table = render(args.out)
    else:
        table = write(
            args.out, args.models, args.sets, args.scales, weights_dir=args.weights_dir,
            data_dir=args.data_dir, progress=not args.no_progress,
        )  # fmt: skip
    if args.docs:
        splice(args.docs, markdown(table))
    print(markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
