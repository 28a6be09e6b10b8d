"""`srlib.reports.protocol_effect` on made-up rows: the effect table, its Markdown and the docs splice (the
measurement itself is `tests/test_protocol.py`'s slow acceptance test)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from srlib.reports.protocol_effect import MARK_BEGIN, MARK_END, effect_table, markdown, splice


def _rows() -> pd.DataFrame:
    data = []
    for protocol, psnr in (("standard", 31.50), ("authors", 31.53)):
        for model in ("lapsrn", "srcnn-915"):
            for image, delta in (("a", -0.5), ("b", 0.5)):
                data.append((model, "Set5", 4, image, psnr + delta, 0.88, "whole", protocol))
    columns = ["model", "set", "scale", "image", "psnr", "ssim", "mode", "protocol"]
    return pd.DataFrame(data, columns=columns)


def test_effect_table_joins_the_published_numbers():
    table = effect_table(_rows()).set_index("model")
    lap = table.loc["lapsrn"]
    assert (lap.standard_psnr, lap.authors_psnr) == pytest.approx((31.50, 31.53))
    assert lap.published_psnr == 31.54 and "Table 2 prints 31.51" in lap.note  # LapSRN's own paper
    assert lap.diff_standard_authors == pytest.approx(-0.03) and lap.diff_authors_published == pytest.approx(
        -0.01
    )
    assert lap.ssim == "MATLAB ssim" and table.loc["srcnn-915"].ssim == "ssim_index"
    assert pd.isna(table.loc["srcnn-915"].published_psnr)
    md = markdown(effect_table(_rows()))
    assert "| lapsrn | Set5 | 4 | 2 | 31.50 | 31.53 | 31.54 | -0.010 | -0.030 |" in md


def test_splice(tmp_path: Path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"# T\n\n{MARK_BEGIN}\nold\n{MARK_END}\n\nafter\n", encoding="utf-8")
    splice(doc, "| new |\n")
    assert doc.read_text(encoding="utf-8") == f"# T\n\n{MARK_BEGIN}\n| new |\n{MARK_END}\n\nafter\n"
    doc.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no <!-- protocol-effect: begin -->"):
        splice(doc, "x")
