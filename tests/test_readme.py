"""The README's result tables are the committed quick tables (srlib/reports/readme.py), never hand copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from srlib.reports import readme

REPO = Path(__file__).resolve().parents[1]


def test_readme_tables_are_the_committed_quick_tables() -> None:
    assert readme.sync(REPO / "README.md", REPO / "results" / readme.PROFILE, check=True), (
        "README.md's results block is stale: run `python -m srlib.reports.readme`"
    )


def test_sync_rewrites_a_stale_block_and_keeps_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "quick"
    root.mkdir()
    (root / "table1.md").write_text("caption\n\n| a |\n|---|\n| 1 [1] |\n\n[1] a note\n[2] unused\n")
    (root / "table2.md").write_text("c\n\n### PSNR (dB)\n\n| b |\n|---|\n| 2 |\n\n### SSIM\n\n| s |\n")
    page = tmp_path / "README.md"
    page.write_text(f"intro\n{readme.BEGIN}\nold\n{readme.END}\noutro\n")
    assert not readme.sync(page, root, check=True) and "old" in page.read_text()
    assert not readme.sync(page, root)
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert "| 1 [1] |\n\n[1] a note\n" in text and "[2] unused" not in text and "| s |" not in text
    assert readme.sync(page, root, check=True)


def test_missing_markers_are_an_error(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        readme.sync(page, tmp_path)
