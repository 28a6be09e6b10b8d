"""Table 1 / Table 2 writers: paper values, differences, inconsistency marks, captions, three formats."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from srlib.core.metrics import PROTOCOL
from srlib.reports import compare, tables


def _means(rows: list[tuple[str, int, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"model": m, "scale": s, "set": st, "images": 5, "psnr": p, "ssim": q} for m, s, st, p, q in rows]
    )


def test_compare_with_paper_puts_the_paper_beside_ours_with_notes():
    rows = [
        ("bicubic", 3, "Set14", 27.50, 0.7700),
        ("lapsrn", 2, "BSD100", 31.0, 0.89),
        ("mlrn", 4, "Set5", 32.0, 0.9),
    ]
    frame = compare.compare_with_paper(_means(rows))
    bic, lap, mlrn = (frame.iloc[i] for i in range(3))
    assert bic.paper_psnr == 27.55 and bic.paper_ssim == 0.7742  # the printed 0.77421, read as 0.7742
    assert bic.diff_psnr == pytest.approx(-0.05) and bic.note.startswith("T2-ssim-digits")
    assert math.isnan(lap.paper_psnr) and math.isnan(lap.diff_ssim) and lap.note.startswith("T2-lapsrn-shift")
    assert mlrn.paper_psnr == 31.95 and mlrn.diff_psnr == pytest.approx(0.05) and mlrn.note == ""
    assert list(frame.columns) == list(compare.LONG_COLUMNS)


def test_compare_with_paper_under_another_label_and_outside_table2():
    means = _means(
        [("mine", 2, "Set5", 37.0, 0.95), ("mine", 2, "Demo", 30.0, 0.9), ("mine", 8, "Set5", 1, 1)]
    )
    frame = compare.compare_with_paper(means, paper_model="VDSR")
    assert list(frame["model"]) == ["mine"] * 3
    assert frame.iloc[0].paper_psnr == 37.53 and frame.iloc[0].diff_psnr == pytest.approx(-0.53)
    assert frame.iloc[1:].paper_psnr.isna().all() and set(frame.iloc[1:].note) == {"not in Table 2"}
    with pytest.raises(ValueError, match=r"\['mine'\] not a Table 2 model.*give paper_model"):
        compare.compare_with_paper(means)
    with pytest.raises(ValueError, match="not a Table 2 model"):
        compare.compare_with_paper(means, paper_model="edsr")


def test_render_table2_marks_inconsistent_cells_and_explains_them():
    rows = [
        ("lapsrn", 2, "Set5", 37.0, 0.95),
        ("lapsrn", 2, "BSD100", 31.0, 0.89),
        ("vdsr", 4, "BSD100", 27.3, 0.73),
    ]
    frame = compare.compare_with_paper(_means(rows))
    md, tex = tables.render_table2(frame, "Caption with 100% & x_2.")
    assert "| LapSRN | x2 | 37.00 / 37.52 (-0.52) | 31.00 / - (-) [1] |" in md
    assert "| VDSR | x4 | n/a | 27.30 / 27.29 (+0.01) [2] |" in md
    assert "[1] T2-lapsrn-shift: printed 30.41/0.9101 (= Urban100) (docs/paper-notes.md)" in md
    assert "### SSIM" in md and "0.7300 / 0.7251 (+0.0049) [2]" in md
    assert r"Caption with 100\% \& x\_2." in tex and r"\begin{tabular}{llcc}" in tex
    assert r"31.00 / - (-)$^{1}$" in tex and tex.count(r"\\") >= 6


def test_table1_frame_follows_the_papers_rows():
    labels = ["mlrn-nl", "mlrn-so", "mlrn-ms", "mlrn"]
    means = _means([(lab, 2, "Set5", 36.0 + i, 0.95) for i, lab in enumerate(labels)])
    frame = tables.table1_frame(means, labels)
    assert list(frame["paper_psnr"]) == [36.32, 36.78, 36.54, 37.23]
    assert list(frame["diff_psnr"].round(2)) == [-0.32, 0.22, 1.46, 1.77]
    assert frame.iloc[0][["non_local", "second_order", "multi_scale"]].tolist() == [True, False, False]
    assert frame.iloc[3]["note"] == "T1-vs-T2: Table 2 prints 37.92 dB for the same model (Set5 x2)"
    md, tex = tables.render_table1(frame, "cap")
    assert "| yes | yes | yes | 39.00 / 37.23 (+1.77) [1] | 0.9500 |" in md
    assert r"39.00 / 37.23 (+1.77)$^{1}$" in tex
    with pytest.raises(ValueError, match="no Set5 x2 mean for 'mlrn-ms'"):
        tables.table1_frame(means[means["model"] != "mlrn-ms"], labels)


def test_caption_states_protocol_profile_reductions_subsets_and_sizes():
    text = tables.caption(
        "Mean PSNR",
        profile={"name": "quick", "reductions": ["3 min per run", "32 channels"]},
        sizes={"mlrn": "1,000/1,100"},
        scales=[2, 3],
        subsets={"vdsr": {"Urban100": 20}},
        set_sizes={"Urban100": 100},
    )
    assert PROTOCOL in text and "profile 'quick': reduced setting -- 3 min per run; 32 channels." in text
    assert "Urban100: first 20 of 100 images" in text
    assert "Parameters (at x2/x3): MLRN (ours) 1,000/1,100." in text
    paper = tables.caption("T", profile={"name": "paper", "reductions": []}, sizes={}, scales=[2],
                           subsets={}, set_sizes={})  # fmt: skip
    assert "(the paper's recipe)" in paper and "subset" not in paper


def test_write_table2_writes_three_formats(tmp_path):
    means = _means([("bicubic", 2, "Set5", 33.68, 0.9304), ("srcnn", 2, "Set5", 30.1, 0.91)])
    frame, written = tables.write_table2(means, "smoke", tmp_path)
    assert [p.name for p in written] == ["table2.csv", "table2.md", "table2.tex"]
    back = pd.read_csv(written[0], keep_default_na=False)
    assert back["psnr"].tolist() == frame["psnr"].tolist()
    md = written[1].read_text()
    assert "Training profile 'smoke': reduced setting" in md and "SRCNN" in md and "Bicubic" in md
    assert "Parameters (at x2): SRCNN" in md
    assert written[2].read_text().startswith(r"\begin{table}")


def test_caption_names_each_models_reduced_options() -> None:
    models = {"vdsr": {"options": {"depth": 8}}}
    profile = {"name": "quick", "reductions": ["fewer iterations"], "models": models}
    text = tables.caption(
        "T", profile=profile, sizes={}, scales=[2], subsets={}, set_sizes={}, models=["vdsr", "srcnn"]
    )
    assert "fewer iterations; vdsr: depth 8 (default 20)." in text
