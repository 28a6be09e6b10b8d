"""Progress bars: widgets interactively, plain text in notebooks the pipeline executes (core/progress.py)."""

from __future__ import annotations

import pytest
import tqdm.std

from srlib.core.progress import tqdm as progress_bar


def test_text_bars_when_the_pipeline_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRLIB_PROGRESS", "text")
    bar = progress_bar(range(3), disable=True)
    assert type(bar) is tqdm.std.tqdm  # not the notebook widget subclass
    assert list(bar) == [0, 1, 2]


def test_auto_bars_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SRLIB_PROGRESS", raising=False)
    from tqdm.auto import tqdm as auto_tqdm

    assert isinstance(progress_bar(range(3), disable=True), auto_tqdm)
