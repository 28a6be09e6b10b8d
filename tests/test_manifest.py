"""The committed manifest: complete, pinned, consistent with the mirror's MANIFEST.tsv."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from conftest import require_data

from srlib.data import manifest
from srlib.data.manifest import ALL_SETS, TEST_SETS, TRAIN_SETS, Entry, entries

EXPECTED_COUNTS = {"Set5": 5, "Set14": 14, "BSD100": 100, "Urban100": 100, "T91": 91, "BSD200": 200}
PINNED = re.compile(r"^https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+$")


def test_sets_and_counts():
    assert TEST_SETS == ("Set5", "Set14", "BSD100", "Urban100")
    assert TRAIN_SETS == ("T91", "BSD200")
    rows = entries()
    assert len(rows) == 510
    for name, n in EXPECTED_COUNTS.items():
        assert len(entries([name])) == n, name


def test_test_sets_agree_with_paper_tables():
    from srlib.core import paper

    assert paper.TEST_SETS == TEST_SETS


def test_every_entry_is_pinned_and_well_formed():
    seen = set()
    for e in entries():
        assert isinstance(e, Entry)
        assert re.fullmatch(r"[0-9a-f]{64}", e.sha256), e
        assert e.size > 0
        assert PINNED.match(e.url), e.url
        assert e.url.endswith("/" + e.name) or e.url.rsplit("/", 1)[1] == e.name
        assert "/" not in e.name and e.relpath == f"{e.dataset}/{e.name}"
        assert e.path("/x") == Path("/x") / e.dataset / e.name
        assert "@" in e.source and len(e.source.split("@")[1]) == 40
        seen.add(e.relpath)
    assert len(seen) == 510  # no duplicates


def test_unknown_set_lists_valid_ones():
    with pytest.raises(ValueError) as info:
        entries(["Set6"])
    message = str(info.value)
    assert "Set6" in message
    for name in ALL_SETS:
        assert name in message


def test_names_case_insensitive_groups_and_order():
    assert [e.dataset for e in entries(["set14", "SET5"])] == ["Set14"] * 14 + ["Set5"] * 5
    assert {e.dataset for e in entries("test")} == set(TEST_SETS)
    assert {e.dataset for e in entries(["train"])} == set(TRAIN_SETS)
    assert len(entries(["Set5", "set5", "all"])) == 510  # duplicates dropped
    assert entries("Set5") == entries(["Set5"])  # a single name is not iterated as characters
    names = [e.name for e in entries("Set5")]
    assert names == ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]


@pytest.mark.data
def test_manifest_matches_mirror_manifest(mirror_dir: Path):
    source = mirror_dir / "MANIFEST.tsv"
    if not source.is_file():
        require_data(f"{source} not present")
    with open(source, newline="", encoding="utf-8") as fh:
        rows = {
            (r["dataset"], r["file"]): (
                r["sha256"],
                int(r["bytes"]),
                f"https://raw.githubusercontent.com/{r['source_repo']}/{r['source_commit']}/{r['source_path']}",
            )
            for r in csv.DictReader(fh, delimiter="\t")
        }
    ours = {(e.dataset, e.name): (e.sha256, e.size, e.url) for e in entries()}
    assert ours == rows


def test_generate_reproduces_committed_file(tmp_path: Path):
    """`generate` run on a MANIFEST.tsv rebuilt from the committed rows gives the committed file back."""
    src = tmp_path / "MANIFEST.tsv"
    lines = ["dataset\tfile\tsha256\tbytes\tsource_repo\tsource_commit\tsource_path"]
    for e in reversed(entries()):  # order must not matter
        owner, repo, commit, path = e.url[len(manifest.RAW_BASE) + 1 :].split("/", 3)
        lines.append("\t".join((e.dataset, e.name, e.sha256, str(e.size), f"{owner}/{repo}", commit, path)))
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "manifest.tsv"
    try:
        assert manifest.generate(src, out) == 510
    finally:
        manifest._all_entries.cache_clear()
    assert out.read_bytes() == manifest.MANIFEST_PATH.read_bytes()
