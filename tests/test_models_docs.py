"""docs/models.md's complexity table is generated from the code: this fails when the committed one is stale
(fix: `python -m srlib.reports.models_table --docs`)."""

from __future__ import annotations

import pytest

from srlib.reports.models_table import DOCS_BEGIN, DOCS_END, DOCS_PATH, docs_table, replace_docs_block


def test_docs_models_table_is_current() -> None:
    text = DOCS_PATH.read_text(encoding="utf-8")
    assert text.count(DOCS_BEGIN) == 1 and text.count(DOCS_END) == 1
    assert replace_docs_block(text, docs_table()) == text, (
        "docs/models.md's complexity table is stale: run `python -m srlib.reports.models_table --docs`"
    )


def test_replace_docs_block() -> None:
    text = f"intro\n{DOCS_BEGIN}\nold table\n{DOCS_END}\noutro\n"
    assert replace_docs_block(text, "| new |\n") == f"intro\n{DOCS_BEGIN}\n\n| new |\n\n{DOCS_END}\noutro\n"
    with pytest.raises(ValueError, match="models-table"):
        replace_docs_block("no markers", "| new |")
