"""Table 2 with the authors' released weights: their rows sit right after our training of the same method,
compared with that method's published number, and the caption says which rows they are, their protocol and
the record's commit (fake means; no evaluation)."""

from __future__ import annotations

import pandas as pd

from srlib.core.paper import table2
from srlib.reports import tables
from srlib.reports.compare import compare_with_paper, paper_row, released_label, released_name


def _means(rows):
    return pd.DataFrame(rows, columns=["model", "scale", "set", "psnr", "ssim"]).assign(images=5)


def test_released_labels_compare_with_their_methods_row():
    assert released_label("SRCNN") == "released-srcnn" and released_name("released-vdsr") == "vdsr"
    assert released_name("vdsr") is None and released_name("released-nope") is None
    assert paper_row("released-lapsrn") == "lapsrn"
    assert paper_row("released-srcnn-915") == "released-srcnn-915"
    frame = compare_with_paper(_means([("released-vdsr", 3, "Set14", 29.8, 0.83)]))
    assert frame["paper_psnr"].iloc[0] == table2("vdsr", 3, "Set14").psnr


def test_table2_shows_released_rows_beside_our_training(tmp_path):
    ours = _means([(m, s, "Set5", 30.0, 0.9) for s in (2, 3) for m in ("bicubic", "srcnn", "vdsr")])
    released = _means(
        [(f"released-{m}", s, "Set5", 36.6, 0.95) for s in (2, 3, 4) for m in ("srcnn", "vdsr")]
    )
    released = pd.concat([released, _means([("released-vdsr", 2, "Set14", 33.0, 0.91)])])  # not in the table
    records = {n: {"protocol": "standard", "commit": "0123456789abcdef-dirty", "where": "../released"}
               for n in ("srcnn", "vdsr")}  # fmt: skip
    frame, written = tables.write_table2(ours, "smoke", tmp_path, released=released, records=records)
    assert frame["model"].tolist() == ["bicubic", "srcnn", "released-srcnn", "vdsr", "released-vdsr"] * 2
    assert frame["scale"].tolist() == [2] * 5 + [3] * 5  # x4 and Set14 are outside this table
    row = frame[(frame["model"] == "released-srcnn") & (frame["scale"] == 2)].iloc[0]
    assert row["paper_psnr"] == table2("srcnn", 2, "Set5").psnr
    md = written[1].read_text()
    assert "| SRCNN (authors' weights) | x2 |" in md and "| VDSR (authors' weights) | x3 |" in md
    assert "Rows SRCNN (authors' weights), VDSR (authors' weights): the authors' released weights" in md
    assert "protocol standard on the full test sets (srlib commit 0123456789ab-dirty" in md
    assert "../released/eval/released-*.json" in md and "authors' weights" in written[2].read_text()


def test_table2_caption_names_a_released_subset(tmp_path):
    ours = _means([("srcnn", 2, "Set5", 30.0, 0.9)])
    released = _means([("released-srcnn", 2, "Set5", 36.6, 0.95)])
    records = {"srcnn": {"protocol": "standard", "commit": None, "max_images": {"Set5": 2}}}
    _, written = tables.write_table2(ours, "smoke", tmp_path, released=released, records=records)
    assert "declared subsets -- Set5: first 2 (srlib commit unknown)" in written[1].read_text()
    _, plain = tables.write_table2(ours, "smoke", tmp_path / "plain")
    assert "authors' weights" not in plain[1].read_text()


def test_table2_caption_names_the_subset_read_from_the_full_evaluation(tmp_path):
    ours = _means([("srcnn", 2, "Set5", 30.0, 0.9)])
    released = _means([("released-srcnn", 2, "Set5", 36.6, 0.95)])
    records = {"srcnn": {"protocol": "standard", "commit": "0123456789abcdef", "max_images": None,
                         "subset": {"Urban100": 20}, "where": "../released"}}  # fmt: skip
    _, written = tables.write_table2(ours, "quick", tmp_path, released=released, records=records)
    md = written[1].read_text()
    assert "on the full test sets and shown here as the means over this profile's declared subsets " in md
    assert "(Urban100: first 20) (srlib commit 0123456789ab; records ../released/eval/released-*.json)" in md
