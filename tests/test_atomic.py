"""srlib.core.atomic: whole files or nothing, and torch files whose bytes depend only on their content."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srlib.core.atomic import atomic_path, write_torch
from srlib.core.provenance import sha256_file


def test_failed_write_leaves_the_old_file(tmp_path: Path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_torch_files_are_byte_reproducible(tmp_path: Path):
    state = {"w": torch.arange(12.0).reshape(3, 4), "b": torch.zeros(3)}
    write_torch(tmp_path / "one.pt", state)
    first = sha256_file(tmp_path / "one.pt")
    write_torch(tmp_path / "one.pt", state)
    write_torch(tmp_path / "two.pt", state)
    assert sha256_file(tmp_path / "one.pt") == first == sha256_file(tmp_path / "two.pt")
    loaded = torch.load(tmp_path / "two.pt", weights_only=True)
    assert torch.equal(loaded["w"], state["w"])
