"""The model-complexity table (`srlib models --table`): parameters and multiply-adds of every model and of
MLRN's four Table 1 variants for a 1280x720 output, as `models.csv` (long) and `models.md` (wide).

The counting is `srlib.models.complexity`'s; this module chooses what to count (the paper's models and
variants, a training profile's sizes) and writes the files. Notebooks call `write_models_table`.
`python -m srlib.reports.models_table --docs` rewrites the table in docs/models.md (between DOCS_BEGIN and
DOCS_END); tests/test_models_docs.py fails when the committed one is stale.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from srlib.core.atomic import write_text
from srlib.core.coverage import check_frame
from srlib.core.paper import ABLATION_FLAGS, SCALES, TABLE1
from srlib.models import build_model, model_names
from srlib.models.complexity import count_macs, count_parameters, lr_size
from srlib.reports.markdown import to_markdown

OUTPUT_HW = (720, 1280)
ABLATION_LABELS = dict(zip(ABLATION_FLAGS, ("NL", "SO", "MS"), strict=True))
NOTE = (
    "MACs = multiply-adds of one forward pass (convolutions, linear layers, matrix products incl. "
    "attention; element-wise work and the bicubic resize not counted), counted with "
    "torch.utils.flop_counter on fake tensors (srlib.models.complexity). "
    "Input -> output sizes (W x H): {sizes}. "
    "Default options: the baselines' published sizes (Y-channel: in_channels=1); MLRN's paper-size "
    "configuration is this project's choice, as the paper gives no sizes (docs/paper-notes.md). "
    "Options that differ are listed in models.csv."
)
DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "models.md"
DOCS_BEGIN = "<!-- models-table: begin (python -m srlib.reports.models_table --docs; do not edit) -->"
DOCS_END = "<!-- models-table: end -->"


def variants(include_mlrn: bool = True) -> list[tuple[str, str, dict[str, Any]]]:
    """(model, variant label, options) for every registered model plus MLRN's four Table 1 variants."""
    rows = [(name, "", {}) for name in model_names() if include_mlrn or name != "mlrn"]
    if include_mlrn:
        for flags, _ in TABLE1:
            label = "+".join(ABLATION_LABELS[k] for k, on in flags.items() if on)
            rows.append(("mlrn", f"Table 1: {label}", dict(flags)))
    return rows


def complexity_table(
    scales: Iterable[int] = SCALES,
    out_hw: tuple[int, int] = OUTPUT_HW,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    include_mlrn: bool = True,
) -> pd.DataFrame:
    """One row per (model, variant, scale): parameters and MACs for an `out_hw` output.

    `options` overrides a model's defaults (e.g. a training profile's CPU sizes); default: the published
    (paper-size) configuration.
    """
    rows = []
    for name, variant, flags in variants(include_mlrn):
        opts = {**(options or {}).get(name, {}), **flags}
        for scale in scales:
            torch.manual_seed(0)
            model = build_model(name, scale, **opts)
            hw = lr_size(out_hw, scale)
            macs = count_macs(model, hw)
            rows.append(
                {
                    "model": name,
                    "variant": variant,
                    "options": ", ".join(f"{k}={v}" for k, v in opts.items()),
                    "scale": scale,
                    "lr_h": hw[0],
                    "lr_w": hw[1],
                    "out_h": hw[0] * scale,
                    "out_w": hw[1] * scale,
                    "params": count_parameters(model),
                    "macs": macs,
                    "gmacs": macs / 1e9,
                }
            )
    return pd.DataFrame(rows)


def wide_markdown(table: pd.DataFrame) -> str:
    """A wide Markdown table: one line per model/variant, parameters and GMACs per scale, and a note."""
    scales = sorted(table["scale"].unique())
    lines = []
    for (model, variant), group in table.groupby(["model", "variant"], sort=False):
        by_scale = group.set_index("scale")
        lines.append(
            {
                "model": model,
                "variant": variant or "default",
                **{f"params x{s}": f"{by_scale.loc[s, 'params']:,}" for s in scales},
                **{f"GMACs x{s}": f"{by_scale.loc[s, 'gmacs']:,.1f}" for s in scales},
            }
        )
    wide = pd.DataFrame(lines)
    sizes = ", ".join(
        f"x{s}: {r.lr_w}x{r.lr_h} -> {r.out_w}x{r.out_h}"
        for s, r in table.drop_duplicates("scale").set_index("scale").iterrows()
    )
    return to_markdown(wide, right=set(wide.columns[2:])) + "\n" + NOTE.format(sizes=sizes) + "\n"


def profile_options(profile: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{model: options} a loaded training profile builds its models with."""
    return {name.lower(): dict(e.get("options") or {}) for name, e in (profile.get("models") or {}).items()}


def write_models_table(
    out_dir: str | os.PathLike[str],
    profile: str | None = None,
    scales: Iterable[int] = SCALES,
    out_hw: tuple[int, int] = OUTPUT_HW,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    include_mlrn: bool = True,
) -> tuple[Path, Path]:
    """Write `<out_dir>/models.csv` (long form) and `models.md` (wide) and return both paths.

    `profile`: count the model sizes a training profile trains (its `models.<name>.options`, named in the
    caption) instead of the published ones; `options` ({model: {option: value}}) override on top. Unknown
    model names in either are a ValueError.
    """
    from srlib.train.config import load_profile

    prof = load_profile(profile) if profile else None
    merged: dict[str, dict[str, Any]] = profile_options(prof) if prof else {}
    for name, values in (options or {}).items():
        merged.setdefault(name.lower(), {}).update(values)
    unknown = sorted(set(merged) - set(model_names()))
    if unknown:
        raise ValueError(f"unknown model(s) in the options: {', '.join(unknown)}")
    table = complexity_table(scales=scales, out_hw=out_hw, options=merged, include_mlrn=include_mlrn)
    out = Path(out_dir)
    csv_path, md_path = out / "models.csv", out / "models.md"
    text = table.to_csv(index=False, float_format="%.4f")
    # Compare the file as it will read back (an empty variant reads as NaN, as in the old file), so that
    # rewriting the same table is never taken for losing the default variants.
    check_frame(csv_path, pd.read_csv(io.StringIO(text)), ("model", "variant", "scale"))
    write_text(csv_path, text)
    caption = f"Model sizes of the training profile `{prof.get('name', profile)}`.\n\n" if prof else ""
    title = f"# Model complexity ({out_hw[1]}x{out_hw[0]} output)\n\n" + caption
    write_text(md_path, title + wide_markdown(table))
    return csv_path, md_path


def docs_table() -> str:
    """The table docs/models.md shows: every model at its defaults, x2/x3/x4, 1280x720 output."""
    return wide_markdown(complexity_table())


def replace_docs_block(text: str, table: str) -> str:
    """`text` with the lines between DOCS_BEGIN and DOCS_END replaced by `table` (ValueError without them)."""
    start, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if start < 0 or end < start:
        raise ValueError(f"docs/models.md has no {DOCS_BEGIN!r} ... {DOCS_END!r} block")
    return text[: start + len(DOCS_BEGIN)] + "\n\n" + table.strip() + "\n\n" + text[end:]


def update_docs(path: str | os.PathLike[str] = DOCS_PATH) -> bool:
    """Rewrite the generated table in `path`; True if it changed."""
    target = Path(path)
    old = target.read_text(encoding="utf-8")
    new = replace_docs_block(old, docs_table())
    if new != old:
        write_text(target, new)
    return new != old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Model complexity tables.")
    parser.add_argument("--docs", action="store_true", help="rewrite the table in docs/models.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/models.md's table is stale")
    args = parser.parse_args(argv)
    if args.check:
        text = DOCS_PATH.read_text(encoding="utf-8")
        stale = replace_docs_block(text, docs_table()) != text
        fix = "stale, run python -m srlib.reports.models_table --docs"
        print(f"{DOCS_PATH}: {fix if stale else 'current'}")
        return int(stale)
    if args.docs:
        print(f"{DOCS_PATH}: {'updated' if update_docs() else 'already current'}")
        return 0
    print(docs_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
