"""Table 1 and Table 2 as files: our value beside the paper's and the difference, with a caption saying how.

Each table goes to CSV (long format, full precision, for programs), Markdown (for reading on GitHub) and LaTeX
(for a paper). The caption states the evaluation protocol (`core.metrics.PROTOCOL`), the training profile and
every reduction it declares, the evaluated image subsets and the model sizes, so a number is never shown
without the setting that produced it. Cells where the paper's own table is inconsistent carry a numbered
mark whose footnote gives the `srlib.core.paper` note (explained in docs/paper-notes.md).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from srlib.core import atomic
from srlib.core.coverage import check_frame
from srlib.core.paper import (
    DISPLAY_NAMES,
    TABLE1,
    TABLE1_SCALE,
    TABLE2_MODELS,
    table2,
)
from srlib.reports.compare import compare_with_paper, paper_row, released_label, released_name
from srlib.reports.markdown import to_markdown

TABLE1_COLUMNS: tuple[str, ...] = (
    "model", "non_local", "second_order", "multi_scale", "set", "scale", "images", "psnr", "paper_psnr",
    "diff_psnr", "ssim", "note",
)  # fmt: skip
# Table 1's full model is Table 2's MLRN at Set5 x2, printed with another value (docs/paper-notes.md).
T1_FULL_NOTE = "T1-vs-T2: Table 2 prints {psnr:.2f} dB for the same model (Set5 x2)"


def table1_frame(means: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Table 1: for each of the paper's four variants (in its order), our Set5 mean at x2 beside the paper's.

    `labels[i]` is the evaluation label (model column of `means`) of `srlib.core.paper.TABLE1[i]`'s variant.
    """
    if len(labels) != len(TABLE1):
        raise ValueError(
            f"table1_frame: need {len(TABLE1)} labels (one per Table 1 variant), got {list(labels)}"
        )
    records = []
    for label, (flags, paper_psnr) in zip(labels, TABLE1, strict=True):
        mine = means[(means["model"] == label) & (means["set"] == "Set5") & (means["scale"] == TABLE1_SCALE)]
        if mine.empty:
            raise ValueError(f"table1_frame: no Set5 x{TABLE1_SCALE} mean for {label!r} in the evaluations")
        row = mine.iloc[0]
        full = all(flags.values())
        records.append(
            {
                "model": label,
                **flags,
                "set": "Set5",
                "scale": TABLE1_SCALE,
                "images": int(row["images"]),
                "psnr": float(row["psnr"]),
                "paper_psnr": paper_psnr,
                "diff_psnr": float(row["psnr"]) - paper_psnr,
                "ssim": float(row["ssim"]),
                "note": T1_FULL_NOTE.format(psnr=table2("mlrn", TABLE1_SCALE, "Set5").psnr) if full else "",
            }
        )
    return pd.DataFrame.from_records(records, columns=list(TABLE1_COLUMNS))


# ----------------------------------------------------------------------------------------------------------
# Captions


def model_options(model: str, scale: int, profile: str | Mapping[str, Any], **flags: bool) -> dict[str, Any]:
    """The constructor options `profile` trains `model` with (plus ablation `flags`); none for Bicubic."""
    if model.lower() == "bicubic":
        return {}
    from srlib.train import resolve_config

    prof = dict(profile) if isinstance(profile, Mapping) else profile
    return {**resolve_config(model, scale, prof)["model_options"], **flags}


def model_sizes(
    models: Iterable[tuple[str, str, dict[str, bool]]],
    scales: Sequence[int],
    profile: str | Mapping[str, Any],
) -> dict[str, str]:
    """Parameter counts of (label, registry name, ablation flags) as trained by `profile`, one per scale
    ("a/b/c" for x2/x3/x4: the upsampler depends on the scale); Bicubic (no parameters) is left out."""
    from srlib.models import build_model
    from srlib.models.complexity import count_parameters

    out = {}
    for label, name, flags in models:
        if name.lower() == "bicubic":
            continue
        counts = [
            count_parameters(build_model(name, s, **model_options(name, s, profile, **flags))) for s in scales
        ]
        out[label] = "/".join(f"{c:,}" for c in counts)
    return out


def caption(
    title: str,
    *,
    profile: Mapping[str, Any],
    sizes: Mapping[str, str],
    scales: Sequence[int],
    subsets: Mapping[str, Mapping[str, int]],
    set_sizes: Mapping[str, int],
    models: Sequence[str] = (),
) -> str:
    """The caption every table carries: what is shown, protocol, profile and its reductions (with the options
    in which each of `models` departs from its paper-size / published default), image subsets
    (`subsets[model][set] = n` first images of `set_sizes[set]`), model sizes."""
    from srlib.core.metrics import PROTOCOL
    from srlib.train.config import reductions as profile_reductions

    parts = [title.rstrip(".") + ".", f"Protocol: {PROTOCOL}."]
    reductions = profile_reductions(dict(profile), [m for m in models if m in profile.get("models", {})])
    parts.append(
        f"Training profile {profile['name']!r}"
        + (": reduced setting -- " + "; ".join(reductions) + "." if reductions else " (the paper's recipe).")
    )
    limited = sorted(
        {f"{s}: first {n} of {set_sizes.get(s, '?')} images" for m in subsets.values() for s, n in m.items()}
    )
    if limited:
        parts.append("Evaluated on a declared subset -- " + "; ".join(limited) + ".")
    if sizes:
        at = "/".join(f"x{s}" for s in scales)
        parts.append(
            f"Parameters (at {at}): "
            + ", ".join(f"{DISPLAY_NAMES.get(k, k)} {v}" for k, v in sizes.items())
            + "."
        )
    return " ".join(parts)


# ----------------------------------------------------------------------------------------------------------
# Rendering


def display_name(model: str) -> str:
    """How a model column reads in a table: `SRCNN`, and `SRCNN (authors' weights)` for `released-srcnn`."""
    if released_name(model):
        row = paper_row(model)
        return f"{DISPLAY_NAMES.get(row, row)} (authors' weights)"
    return DISPLAY_NAMES.get(model, model)


def _fmt(value: float, digits: int, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _note_marks(notes: Iterable[str]) -> dict[str, int]:
    """Footnote number per distinct note (in order of appearance)."""
    marks: dict[str, int] = {}
    for note in notes:
        if note and note not in marks:
            marks[note] = len(marks) + 1
    return marks


def _cell(row: Mapping[str, Any], metric: str, digits: int) -> str:
    ours, paper, diff = row.get(metric), row.get(f"paper_{metric}"), row.get(f"diff_{metric}")
    return f"{_fmt(ours, digits)} / {_fmt(paper, digits)} ({_fmt(diff, digits, signed=True)})"


def _wide(frame: pd.DataFrame, metric: str, digits: int, marks: Mapping[str, int], sup: str) -> pd.DataFrame:
    """Rows (model, scale), columns = sets, cells `ours / paper (diff)` with footnote marks."""
    sets = list(dict.fromkeys(frame["set"]))
    out = []
    for (model, scale), group in frame.groupby(["model", "scale"], sort=False):
        row: dict[str, str] = {"Method": display_name(model), "Scale": f"x{scale}"}
        for s in sets:
            hit = group[group["set"] == s]
            if hit.empty:
                row[s] = "n/a"
                continue
            rec = hit.iloc[0].to_dict()
            mark = sup.format(marks[rec["note"]]) if rec.get("note") else ""
            row[s] = _cell(rec, metric, digits) + mark
        out.append(row)
    return pd.DataFrame(out)


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def _tex_rows(df: pd.DataFrame) -> list[str]:
    return [" & ".join(str(v) for v in row) + r" \\" for row in df.itertuples(index=False)]


def _footnotes(marks: Mapping[str, int]) -> list[str]:
    return [f"[{n}] {note} (docs/paper-notes.md)" for note, n in marks.items()]


def render_table2(frame: pd.DataFrame, caption_text: str) -> tuple[str, str]:
    """(Markdown, LaTeX) for a long-format Table 2 frame: a PSNR block and an SSIM block."""
    marks = _note_marks(frame["note"])
    md = [f"**Table 2 (replication).** {caption_text}", ""]
    md += [
        "Each cell: ours / paper (ours - paper). A number in brackets marks a paper-table inconsistency.",
        "",
    ]
    for metric, digits, head in (("psnr", 2, "PSNR (dB)"), ("ssim", 4, "SSIM")):
        md += [f"### {head}", "", to_markdown(_wide(frame, metric, digits, marks, " [{}]"))]
    md += _footnotes(marks)
    tex_psnr = _wide(frame, "psnr", 2, marks, r"$^{{{}}}$")
    tex_ssim = _wide(frame, "ssim", 4, marks, r"$^{{{}}}$")
    cols = len(tex_psnr.columns)
    tex = [
        r"\begin{table}[t]",
        r"\centering\scriptsize",
        rf"\caption{{{tex_escape(caption_text)} Cells: ours / paper (ours $-$ paper).}}",
        r"\label{tab:table2-replication}",
        r"\begin{tabular}{ll" + "c" * (cols - 2) + "}",
        r"\hline",
        " & ".join(tex_escape(c) for c in tex_psnr.columns) + r" \\",
        r"\hline",
        rf"\multicolumn{{{cols}}}{{l}}{{PSNR (dB)}} \\",
        *_tex_rows(tex_psnr),
        r"\hline",
        rf"\multicolumn{{{cols}}}{{l}}{{SSIM}} \\",
        *_tex_rows(tex_ssim),
        r"\hline",
        r"\end{tabular}",
        *[rf"\par{{\footnotesize {tex_escape(line)}}}" for line in _footnotes(marks)],
        r"\end{table}",
    ]
    return "\n".join(md) + "\n", "\n".join(tex) + "\n"


def render_table1(frame: pd.DataFrame, caption_text: str) -> tuple[str, str]:
    """(Markdown, LaTeX) for Table 1: the variants' branches (yes/no) and Set5 PSNR ours / paper (diff)."""
    marks = _note_marks(frame["note"])
    rows = []
    for rec in frame.to_dict("records"):
        mark = f" [{marks[rec['note']]}]" if rec["note"] else ""
        rows.append(
            {
                "Non-local": "yes" if rec["non_local"] else "no",
                "Second-order": "yes" if rec["second_order"] else "no",
                "Multi-scale": "yes" if rec["multi_scale"] else "no",
                "PSNR (dB): ours / paper (diff)": _cell(rec, "psnr", 2) + mark,
                "SSIM (ours)": _fmt(rec["ssim"], 4),
            }
        )
    df = pd.DataFrame(rows)
    md = [f"**Table 1 (replication).** {caption_text}", "", to_markdown(df), *_footnotes(marks)]
    tex_df = df.copy()
    tex_df.iloc[:, 3] = [
        c.replace(f" [{n}]", f"$^{{{n}}}$")
        for c, n in zip(tex_df.iloc[:, 3], [marks.get(x, 0) for x in frame["note"]], strict=True)
    ]
    tex = [
        r"\begin{table}[t]",
        r"\centering\small",
        rf"\caption{{{tex_escape(caption_text)}}}",
        r"\label{tab:table1-replication}",
        r"\begin{tabular}{ccccc}",
        r"\hline",
        " & ".join(tex_escape(c) for c in df.columns) + r" \\",
        r"\hline",
        *_tex_rows(tex_df),
        r"\hline",
        r"\end{tabular}",
        *[rf"\par{{\footnotesize {tex_escape(line)}}}" for line in _footnotes(marks)],
        r"\end{table}",
    ]
    return "\n".join(md) + "\n", "\n".join(tex) + "\n"


def write_table(frame: pd.DataFrame, stem: str | os.PathLike[str], markdown: str, latex: str) -> list[Path]:
    """Write `<stem>.csv` (the long frame, full precision), `<stem>.md` and `<stem>.tex`, each atomically;
    refused (CoverageError) when the table there covers a (model, scale, set) this one lacks."""
    stem = Path(stem)
    out = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    check_frame(out[0], frame)
    atomic.write_text(out[0], frame.to_csv(index=False))
    atomic.write_text(out[1], markdown)
    atomic.write_text(out[2], latex)
    return out


def _subsets(models: Iterable[str], sets: Iterable[str], profile: str | Mapping[str, Any]) -> dict[str, dict]:
    """{model: {set: n}} for the sets a profile evaluates only partly."""
    from srlib.train import eval_plan

    prof = dict(profile) if isinstance(profile, Mapping) else profile
    sets = set(sets)
    out = {}
    for m in models:
        limits = {s: n for s, n in eval_plan(prof, m)["max_images"].items() if s in sets}
        if limits:
            out[m] = limits
    return out


def _set_sizes(sets: Iterable[str]) -> dict[str, int]:
    from srlib.data.manifest import set_size

    return {s: set_size(s)[0] for s in sets}


def released_caption(records: Mapping[str, Mapping[str, Any]]) -> str:
    """The caption sentence on the released rows: which they are, their protocol, image subsets, commit and
    where their records live (`records`: {name: record of `srlib.pipeline.released`, plus "where"})."""
    if not records:
        return ""
    rows = ", ".join(display_name(released_label(n)) for n in records)
    protocols = sorted({str(r.get("protocol")) for r in records.values()})
    commits = sorted({_short_commit(r.get("commit")) for r in records.values()})
    limits, subsets = _firsts(records, "max_images"), _firsts(records, "subset")
    where = sorted({str(r.get("where", "")) for r in records.values()} - {""})
    return (
        f"Rows {rows}: the authors' released weights loaded into srlib's classes (not trained here), "
        f"evaluated under protocol {', '.join(protocols)} on "
        + ("declared subsets -- " + "; ".join(limits) if limits else "the full test sets")
        + (
            " and shown here as the means over this profile's declared subsets (" + "; ".join(subsets) + ")"
            if subsets
            else ""
        )
        + f" (srlib commit {', '.join(commits)}"
        + (f"; records {', '.join(w + '/eval/released-*.json' for w in where)}" if where else "")
        + "); every other learned row is our training."
    )


def _firsts(records: Mapping[str, Mapping[str, Any]], key: str) -> list[str]:
    """`<set>: first <n>` for every {set: n} under `key` in `records`, sorted, each once."""
    return sorted({f"{s}: first {n}" for r in records.values() for s, n in (r.get(key) or {}).items()})


def _short_commit(commit: str | None) -> str:
    """`0123456789ab` or `0123456789ab-dirty` of a `commit_label`; "unknown" without one."""
    if not commit:
        return "unknown"
    return str(commit)[:12] + ("-dirty" if str(commit).endswith("-dirty") else "")


def _table2_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by scale, then Table 2's method order, a method's released weights right after our training."""

    def key(model: str) -> tuple[int, int]:
        row = paper_row(model)
        return (TABLE2_MODELS.index(row) if row in TABLE2_MODELS else len(TABLE2_MODELS), int(row != model))

    keys = frame["model"].map(key)
    order = sorted(range(len(frame)), key=lambda i: (int(frame["scale"].iloc[i]), keys.iloc[i]))
    return frame.iloc[order].reset_index(drop=True)


def write_table2(
    means: pd.DataFrame,
    profile: str,
    out_dir: str | os.PathLike[str],
    *,
    released: pd.DataFrame | None = None,
    records: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[pd.DataFrame, list[Path]]:
    """Table 2 from evaluation means (columns model, set, scale, images, psnr, ssim) into
    `<out_dir>/table2.{csv,md,tex}`; returns the long frame and the paths. `released`: means of the authors'
    released weights (model `released-<name>`), shown beside our training of the same method, with
    `records` ({name: record}) for the caption."""
    from srlib.train import load_profile

    prof = load_profile(profile)
    trained = compare_with_paper(means)
    models = list(dict.fromkeys(trained["model"]))
    sets = list(dict.fromkeys(trained["set"]))
    scales = sorted(set(trained["scale"]))
    frame = trained
    if released is not None and len(released):
        extra = released[released["set"].isin(sets) & released["scale"].isin(scales)]
        frame = _table2_order(pd.concat([trained, compare_with_paper(extra)], ignore_index=True))
    text = caption(
        f"Mean PSNR (dB) / SSIM of every method on {', '.join(sets)} at "
        + ", ".join(f"x{s}" for s in scales),
        profile=prof,
        sizes=model_sizes([(m, m, {}) for m in models], scales, prof),
        scales=scales,
        subsets=_subsets(models, sets, prof),
        set_sizes=_set_sizes(sets),
        models=models,
    )
    extra_text = released_caption(records or {})
    md, tex = render_table2(frame, f"{text} {extra_text}".strip())
    return frame, write_table(frame, Path(out_dir) / "table2", md, tex)


def write_table1(
    means: pd.DataFrame, labels: Sequence[str], profile: str, out_dir: str | os.PathLike[str]
) -> tuple[pd.DataFrame, list[Path]]:
    """Table 1 from the four variants' evaluation means into `<out_dir>/table1.{csv,md,tex}`."""
    from srlib.train import load_profile

    prof = load_profile(profile)
    frame = table1_frame(means, labels)
    models = [(label, "mlrn", flags) for label, (flags, _) in zip(labels, TABLE1, strict=True)]
    text = caption(
        f"Ablation of MLRN's branches: mean PSNR (dB) on Set5 at x{TABLE1_SCALE} (the paper's Table 1 gives "
        "PSNR only; our SSIM is shown for completeness; its caption says x2, its text x4: "
        "docs/paper-notes.md)",
        profile=prof,
        sizes=model_sizes(models, [TABLE1_SCALE], prof),
        scales=[TABLE1_SCALE],
        subsets=_subsets(["mlrn"], ["Set5"], prof),
        set_sizes=_set_sizes(["Set5"]),
        models=["mlrn"],
    )
    md, tex = render_table1(frame, text)
    return frame, write_table(frame, Path(out_dir) / "table1", md, tex)
