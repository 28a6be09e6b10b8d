"""The released-weights manifest and `prepare_weights`: the data sets' fetch machinery on the weights mirror
(copy, resume, corrupt mirror file, HTTP from a server on 127.0.0.1, the no-source message)."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from srlib.data import fetch
from srlib.data.fetch import PrepareError, is_valid
from srlib.data.manifest import COLUMNS
from srlib.data.weights_manifest import (
    WEIGHT_FOLDERS,
    WEIGHTS_MANIFEST_PATH,
    prepare_weights,
    select,
    state,
    weight_entries,
    weight_entry,
)

PINNED = re.compile(r"^https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+$")
SMALL = ["srcnn/SRCNN_915_91images_x2.mat", "srcnn/SRCNN_915_91images_x3.mat"]  # 38 kB each


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SRLIB_WEIGHTS_MIRROR", raising=False)
    monkeypatch.delenv("SRLIB_WEIGHTS_URL_BASE", raising=False)
    monkeypatch.setattr(fetch, "RETRY_BACKOFF_S", 0.0)


def test_manifest_rows_are_pinned_and_complete():
    rows = weight_entries()
    assert len(rows) == 11
    assert {e.dataset for e in rows} == set(WEIGHT_FOLDERS)
    for e in rows:
        assert re.fullmatch(r"[0-9a-f]{64}", e.sha256) and e.size > 0, e
        assert PINNED.match(e.url), e.url
    assert len({e.relpath for e in rows}) == 11
    with open(WEIGHTS_MANIFEST_PATH, newline="", encoding="utf-8") as fh:
        assert tuple(next(csv.reader(fh, delimiter="\t"))) == COLUMNS


@pytest.mark.data
def test_manifest_agrees_with_the_mirror(weights_mirror: Path):
    with open(weights_mirror / "MANIFEST.tsv", newline="", encoding="utf-8") as fh:
        src = {r["file"]: r for r in csv.DictReader(fh, delimiter="\t")}
    assert set(src) == {e.relpath for e in weight_entries()}
    for e in weight_entries():
        assert (e.sha256, e.size, e.url) == (src[e.relpath]["sha256"], int(src[e.relpath]["bytes"]),
                                             src[e.relpath]["raw_url"])  # fmt: skip


def test_unknown_file_named():
    with pytest.raises(KeyError, match=r"srcnn/nope\.mat.*known: srcnn/SRCNN_955"):
        weight_entry("srcnn/nope.mat")


@pytest.mark.data
def test_mirror_copy_then_resume(weights_mirror: Path, tmp_path: Path):
    target = tmp_path / "w"
    summary = prepare_weights(SMALL, target, weights_mirror, progress=False, offline=True)
    assert (summary.copied, summary.kept, summary.files) == (2, 0, 2)
    assert all(is_valid(e, e.path(target)) for e in select(SMALL))
    again = prepare_weights(SMALL, target, weights_mirror, progress=False, offline=True)
    assert (again.copied, again.kept) == (0, 2)
    assert "2 released weight files" in str(again) and "2 already present" in str(again)


@pytest.mark.data
def test_env_mirror_truncated_target_and_corrupt_mirror(weights_mirror: Path, tmp_path: Path, monkeypatch):
    mirror = tmp_path / "mirror"
    shutil.copytree(weights_mirror / "srcnn", mirror / "srcnn")
    monkeypatch.setenv("SRLIB_WEIGHTS_MIRROR", str(mirror))
    target = tmp_path / "w"
    prepare_weights(SMALL, target, progress=False, offline=True)
    truncated = select(SMALL)[0].path(target)
    truncated.write_bytes(truncated.read_bytes()[:100])
    assert state(select(SMALL)[0], target) == "wrong size/sha256"
    data = bytearray((mirror / SMALL[0]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (mirror / SMALL[0]).write_bytes(bytes(data))
    with pytest.raises(PrepareError) as info:
        prepare_weights(SMALL, target, progress=False, offline=True)
    message = str(info.value)
    assert "1 of 2 files" in message and SMALL[0] in message and "corrupt" in message
    assert "srlib weights prepare" in message and "SRLIB_WEIGHTS_MIRROR" in message
    assert not truncated.exists() or not is_valid(select(SMALL)[0], truncated)
    assert not list(target.rglob("*.tmp"))


@pytest.mark.data
def test_http_download(weights_mirror: Path, tmp_path: Path):
    from tests.test_prepare import serve

    with serve(weights_mirror) as (base, requests):
        summary = prepare_weights(SMALL, tmp_path / "w", None, progress=False, url_base=base)
    assert summary.downloaded == 2 and sorted(requests) == sorted(f"/{p}" for p in SMALL)


def test_no_source_one_message(tmp_path: Path):
    with pytest.raises(PrepareError) as info:
        prepare_weights(None, tmp_path / "w", None, progress=False, offline=True)
    message = str(info.value)
    assert "could not obtain 11 of 11 files" in message and "srcnn: 8, vdsr: 1, lapsrn: 2" in message
    assert "--mirror" in message


def test_missing_mirror_directory(tmp_path: Path):
    with pytest.raises(PrepareError, match="nowhere is not a directory"):
        prepare_weights(SMALL, tmp_path / "w", tmp_path / "nowhere", progress=False)
