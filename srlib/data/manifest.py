"""The dataset manifest: every benchmark / training file with its sha256, size and pinned download URL.

`manifest.tsv` (next to this module, shipped inside the package) has one row per file:

    dataset  name  sha256  size  url

`url` is pinned to a public GitHub repository *and commit*:
`https://raw.githubusercontent.com/<source_repo>/<source_commit>/<source_path>`, so the bytes behind it cannot
change; `sha256` and `size` are checked on every copy or download anyway (`srlib.data.prepare`).

The table was generated once from the data mirror's `MANIFEST.tsv` (columns dataset, file, sha256, bytes,
source_repo, source_commit, source_path) with

    python -m srlib.data.manifest ../shared/datasets/MANIFEST.tsv

and is committed; regenerate it only when the pinned sources change.
"""

from __future__ import annotations

import csv
import functools
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from srlib.core.paper import TEST_SETS

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.tsv"
COLUMNS: tuple[str, ...] = ("dataset", "name", "sha256", "size", "url")
RAW_BASE = "https://raw.githubusercontent.com"

TRAIN_SETS: tuple[str, ...] = ("T91", "BSD200")
ALL_SETS: tuple[str, ...] = TEST_SETS + TRAIN_SETS
# Names that stand for several sets, accepted wherever a list of sets is (CLI --sets, `entries`, `prepare`).
SET_GROUPS: dict[str, tuple[str, ...]] = {"all": ALL_SETS, "test": TEST_SETS, "train": TRAIN_SETS}


@dataclass(frozen=True)
class Entry:
    """One file of a dataset: it lives at `<data_dir>/<dataset>/<name>`."""

    dataset: str
    name: str
    sha256: str
    size: int
    url: str

    @property
    def relpath(self) -> str:
        """`<dataset>/<name>`: the path inside a data directory or a mirror."""
        return f"{self.dataset}/{self.name}"

    def path(self, root: str | Path) -> Path:
        """Where this file lives under `root` (a data directory or a mirror)."""
        return Path(root) / self.dataset / self.name

    @property
    def source(self) -> str:
        """`<owner>/<repo>@<commit>` of the pinned URL (for docs and `srlib data list`)."""
        if not self.url.startswith(RAW_BASE + "/"):
            return self.url
        owner, repo, commit = self.url[len(RAW_BASE) + 1 :].split("/")[:3]
        return f"{owner}/{repo}@{commit}"


def read_manifest(path: Path, groups: tuple[str, ...]) -> tuple[Entry, ...]:
    """The rows of a manifest file laid out like `manifest.tsv` (`COLUMNS`); every row's first column must be
    one of `groups` (the data sets, or the released-weights folders of `weights_manifest.tsv`)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise RuntimeError(f"{path}: expected columns {COLUMNS}, found {reader.fieldnames}")
        rows = [Entry(r["dataset"], r["name"], r["sha256"].lower(), int(r["size"]), r["url"]) for r in reader]
    unknown = sorted({e.dataset for e in rows} - set(groups))
    if unknown:
        raise RuntimeError(f"{path}: {unknown} are not among {groups}")
    return tuple(rows)


@functools.lru_cache(maxsize=1)
def _all_entries() -> tuple[Entry, ...]:
    return read_manifest(MANIFEST_PATH, ALL_SETS)


def canonical_set(name: str) -> str:
    """The canonical spelling of a manifest set name (case-insensitive); ValueError listing valid names."""
    for valid in ALL_SETS:
        if name.lower() == valid.lower():
            return valid
    raise ValueError(
        f"unknown dataset {name!r}; valid sets: {', '.join(ALL_SETS)} (or the groups {', '.join(SET_GROUPS)})"
    )


def resolve_sets(sets: str | Iterable[str] | None = None) -> tuple[str, ...]:
    """Expand `sets` (None = all; a name or group, or an iterable of them) to canonical set names, in order,
    without duplicates. Unknown names raise ValueError listing the valid ones."""
    if sets is None:
        return ALL_SETS
    names = [sets] if isinstance(sets, str) else list(sets)
    out: list[str] = []
    for name in names:
        group = SET_GROUPS.get(str(name).lower())
        for s in group if group is not None else (canonical_set(str(name)),):
            if s not in out:
                out.append(s)
    return tuple(out)


def entries(sets: str | Iterable[str] | None = None) -> list[Entry]:
    """Manifest entries of `sets` (None = all sets), grouped by set in the order given, files in manifest
    (sorted) order. Unknown set names raise ValueError listing the valid ones."""
    wanted = resolve_sets(sets)
    rows = _all_entries()
    return [e for s in wanted for e in rows if e.dataset == s]


def set_size(name: str) -> tuple[int, int]:
    """(number of files, total bytes) of one set."""
    rows = entries([name])
    return len(rows), sum(e.size for e in rows)


def read_source(source_manifest: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of a mirror's MANIFEST.tsv (tab-separated, with a header)."""
    with open(source_manifest, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def write_rows(out: str | os.PathLike[str], rows: Iterable[Sequence[str]]) -> int:
    """Write a manifest (`COLUMNS`, then `rows`) to `out` atomically; returns the number of rows."""
    from srlib.core.atomic import write_text

    lines = ["\t".join(COLUMNS), *("\t".join(r) for r in rows)]
    write_text(out, "\n".join(lines) + "\n")
    return len(lines) - 1


def generate(source_manifest: str | Path, out: str | Path = MANIFEST_PATH) -> int:
    """Write `out` from a mirror's MANIFEST.tsv (see module docstring); returns the number of rows."""
    order = {s: i for i, s in enumerate(ALL_SETS)}
    src = sorted(read_source(source_manifest), key=lambda r: (order[r["dataset"]], r["file"]))
    n = write_rows(
        out,
        (
            (r["dataset"], r["file"], r["sha256"].lower(), str(int(r["bytes"])),
             f"{RAW_BASE}/{r['source_repo']}/{r['source_commit']}/{r['source_path']}")
            for r in src
        ),
    )  # fmt: skip
    _all_entries.cache_clear()
    return n


if __name__ == "__main__":  # pragma: no cover - maintenance tool
    if len(sys.argv) != 2:
        sys.exit("usage: python -m srlib.data.manifest MIRROR/MANIFEST.tsv")
    print(f"wrote {generate(sys.argv[1])} rows to {MANIFEST_PATH}")
