"""The released weights of Table 2's baselines as files: manifest, fetch, verify (the data sets' machinery).

`weights_manifest.tsv` (next to this module) lists every released file the project can use, in the columns of
the data manifest (`srlib.data.manifest.COLUMNS`): `dataset` is the file's folder (`srcnn`, `vdsr`,
`lapsrn`), `name` its file name, then sha256, size and the URL pinned to the authors' (or a re-packager's)
GitHub repository and commit. A weights folder, and a mirror of one, is laid out as `<dir>/<folder>/<name>`,
e.g. `weights/srcnn/SRCNN_955_ImageNet_x2.mat` (the layout of `../shared/weights`).

`prepare_weights` fills the weights folder exactly like `srlib.data.prepare` fills the data folder (same
`srlib.data.fetch.fetch_entries`: keep a verified file, else copy from the mirror, else download; atomic
writes, resume, one error listing what is missing). Which file serves which model and scale is
`srlib.released`'s business; this module only knows files. The weight files are the authors' (released for
research use): they are fetched, never committed (`.gitignore` has `/weights/` and `*.mat`).

Regenerate the table (only when the pinned sources change) with

    python -m srlib.data.weights_manifest ../shared/weights/MANIFEST.tsv
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from srlib.core import paths
from srlib.data.fetch import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, FetchCounts, Sources, fetch_entries, is_valid
from srlib.data.manifest import Entry, read_manifest, read_source, write_rows

WEIGHTS_MANIFEST_PATH = Path(__file__).resolve().parent / "weights_manifest.tsv"
WEIGHT_FOLDERS: tuple[str, ...] = ("srcnn", "vdsr", "lapsrn")
ENV_WEIGHTS_URL_BASE = "SRLIB_WEIGHTS_URL_BASE"

WEIGHTS_HINT = (
    "To copy the files from a local mirror, pass --mirror DIR to `srlib weights prepare` (Python: "
    "prepare_weights(mirror=DIR))\nor set SRLIB_WEIGHTS_MIRROR=DIR, where DIR is laid out as "
    "DIR/<folder>/<file> (e.g. DIR/srcnn/SRCNN_955_ImageNet_x2.mat, as ../shared/weights).\nOtherwise allow "
    "HTTPS access to raw.githubusercontent.com, or serve such a folder over HTTP and pass --url-base URL "
    f"(${ENV_WEIGHTS_URL_BASE})."
)


@functools.lru_cache(maxsize=1)
def weight_entries() -> tuple[Entry, ...]:
    """Every released weight file of the manifest, in manifest order."""
    return read_manifest(WEIGHTS_MANIFEST_PATH, WEIGHT_FOLDERS)


def weight_entry(relpath: str) -> Entry:
    """The manifest entry of `<folder>/<name>`; KeyError naming the known files otherwise."""
    for entry in weight_entries():
        if entry.relpath == relpath:
            return entry
    known = ", ".join(e.relpath for e in weight_entries())
    raise KeyError(f"{relpath} is not in {WEIGHTS_MANIFEST_PATH.name} (known: {known})")


def select(relpaths: Iterable[str] | None = None) -> list[Entry]:
    """The entries of `relpaths` (None = every file), each once, in the order given."""
    if relpaths is None:
        return list(weight_entries())
    return [weight_entry(p) for p in dict.fromkeys(relpaths)]


@dataclass(kw_only=True)
class WeightsSummary(FetchCounts):
    """What `prepare_weights` did (the CLI prints it)."""

    weights_dir: Path
    files: int = 0

    def __str__(self) -> str:
        return self.report(f"{self.files} released weight files", self.weights_dir)


def prepare_weights(
    relpaths: Iterable[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    url_base: str | None = None,
    offline: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
) -> WeightsSummary:
    """Make `<weights_dir>/<folder>/<name>` hold the files `relpaths` (None = all), sha256-verified.

    weights_dir: default `srlib.core.paths.weights_dir()` ($SRLIB_WEIGHTS, else the checkout's weights/).
    mirror: a folder laid out as `<mirror>/<folder>/<name>`; default $SRLIB_WEIGHTS_MIRROR. Tried first.
    url_base: download `<url_base>/<folder>/<name>` instead of the pinned URLs (default
    $SRLIB_WEIGHTS_URL_BASE).
    Raises `srlib.data.fetch.PrepareError` listing the files that could not be obtained.
    """
    root = Path(weights_dir) if weights_dir is not None else paths.weights_dir()
    items = select(relpaths)
    source = Sources.given(
        mirror, paths.weights_mirror_dir(), "SRLIB_WEIGHTS_MIRROR", url_base, ENV_WEIGHTS_URL_BASE,
        offline=offline, timeout=timeout, retries=retries, hint=WEIGHTS_HINT, desc="srlib weights",
    )  # fmt: skip
    counts = fetch_entries(items, root, source, progress=progress)
    return WeightsSummary(**vars(counts), weights_dir=root, files=len(items))


def state(entry: Entry, weights_dir: str | os.PathLike[str] | None = None, rehash: bool = False) -> str:
    """ "ok", "missing" or "wrong size/sha256": one file of the weights folder (size only unless `rehash`)."""
    path = entry.path(Path(weights_dir) if weights_dir is not None else paths.weights_dir())
    if not path.is_file():
        return "missing"
    if path.stat().st_size != entry.size or (rehash and not is_valid(entry, path)):
        return "wrong size/sha256"
    return "ok"


def generate(source_manifest: str | Path, out: str | Path = WEIGHTS_MANIFEST_PATH) -> int:
    """Write `out` from a weights mirror's MANIFEST.tsv (columns file, sha256, bytes, raw_url, ...)."""
    n = write_rows(
        out,
        ((*r["file"].split("/", 1), r["sha256"].lower(), str(int(r["bytes"])), r["raw_url"])
         for r in read_source(source_manifest)),
    )  # fmt: skip
    weight_entries.cache_clear()
    return n


if __name__ == "__main__":  # pragma: no cover - maintenance tool
    if len(sys.argv) != 2:
        sys.exit("usage: python -m srlib.data.weights_manifest WEIGHTS_MIRROR/MANIFEST.tsv")
    print(f"wrote {generate(sys.argv[1])} rows to {WEIGHTS_MANIFEST_PATH}")
