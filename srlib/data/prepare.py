"""Fill a data directory with the benchmark and training sets, every file sha256-verified.

`prepare(sets, data_dir, mirror)` makes `<data_dir>/<Set>/<file>` hold exactly the bytes listed in
`manifest.tsv`. For each file, in this order:

1. a file already in place with the right size and sha256 is kept (so an interrupted run resumes; a file with
   a wrong size or hash is fetched again);
2. else it is copied from the **mirror** (`mirror=` argument, `--mirror`, or `$SRLIB_MIRROR`): a folder laid
   out as `<mirror>/<Set>/<file>`. A mirror file whose size or sha256 is wrong is reported and not copied;
3. else it is downloaded over HTTP(S) from its pinned URL (`raw.githubusercontent.com/<repo>/<commit>/...`),
   or, when a base URL is given (`url_base=`, `--url-base`, `$SRLIB_DATA_URL_BASE`), from
   `<base>/<Set>/<file>`: any web server that serves a mirror folder (the tests serve one on 127.0.0.1).
   urllib with a timeout; broken transfers and wrong hashes are retried `retries` times; when the server
   cannot be reached at all, the remaining downloads are not attempted.

Every write goes to a temporary file beside the target, is hashed on the way, and is renamed onto the target
only when size and sha256 match (`core.atomic`): no reader ever sees a partial or wrong file, and temporary
files left behind by a killed run are removed by the next one. Concurrent runs on one data directory are
serialised by a lock file (`<data_dir>/.srlib-prepare.lock`, POSIX only).

When files remain missing, `PrepareError` says so once, listing how many and the first few with the reason,
and how to give a mirror. Files obtained before the failure stay (verified), so a rerun continues.

Cost: checking an already-prepared file re-hashes it (no stamp file to go stale). All 510 files (237 MB) hash
in about 1 s on this 2-core machine, and copying them from a mirror on the same disk takes a few seconds
(figures in docs/data.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srlib.core import paths
from srlib.data.fetch import (  # noqa: F401 - PrepareError, is_valid and the defaults are this module's API
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    SHOW_FIRST,
    FetchCounts,
    PrepareError,
    Sources,
    _lock,
    fetch_entries,
    is_valid,
)
from srlib.data.manifest import ALL_SETS, Entry, entries

ENV_URL_BASE = "SRLIB_DATA_URL_BASE"

MIRROR_HINT = (
    "To copy the files from a local mirror, pass --mirror DIR to `srlib data prepare` (Python: "
    "prepare(mirror=DIR))\nor set SRLIB_MIRROR=DIR, where DIR is laid out as DIR/<Set>/<file> (e.g. "
    "DIR/Set5/baby.png).\nOtherwise allow HTTPS access to raw.githubusercontent.com, or serve such a folder "
    f"over HTTP and pass --url-base URL (${ENV_URL_BASE})."
)


def split_sets(sets: str | Iterable[str] | None) -> tuple[tuple[str, ...], bool]:
    """(manifest sets, whether the Demo set is wanted) for a `sets` argument; None = all manifest sets.
    Unknown names raise ValueError listing the valid ones."""
    from srlib.data.demo import DEMO_SET
    from srlib.data.manifest import SET_GROUPS, resolve_sets

    if sets is None:
        return ALL_SETS, False
    names = [sets] if isinstance(sets, str) else [str(s) for s in sets]
    want_demo = any(n.lower() == DEMO_SET.lower() for n in names)
    rest = [n for n in names if n.lower() != DEMO_SET.lower()]
    try:
        resolved = resolve_sets(rest) if rest else ()
    except ValueError:
        bad = [n for n in rest if n.lower() not in {s.lower() for s in ALL_SETS} | set(SET_GROUPS)]
        raise ValueError(
            f"unknown dataset {', '.join(map(repr, bad))}; valid: {', '.join((*ALL_SETS, DEMO_SET))} "
            f"(or the groups {', '.join(SET_GROUPS)})"
        ) from None
    return resolved, want_demo


@dataclass(kw_only=True)
class PrepareSummary(FetchCounts):
    """What `run_prepare` did."""

    data_dir: Path
    sets: tuple[str, ...]
    demo: bool

    def __str__(self) -> str:
        parts = ", ".join(self.sets + (("Demo",) if self.demo else ()))
        return self.report(f"{parts}: {self.kept + self.copied + self.downloaded} files", self.data_dir)


def run_prepare(
    sets: str | Iterable[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    url_base: str | None = None,
    offline: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
) -> PrepareSummary:
    """Make `<data_dir>/<Set>/<file>` hold every file of `sets`, sha256-verified; return what was kept,
    copied and downloaded (the CLI prints it). `prepare` is the same, returning the data folder.

    sets: set names (case-insensitive), the groups "all" / "test" / "train", or "Demo"; None = all six
        benchmark and training sets (Demo only when named).
    data_dir: default `srlib.core.paths.data_dir()` ($SRLIB_DATA, else the checkout's data/).
    mirror: a folder laid out as `<mirror>/<Set>/<file>`; default $SRLIB_MIRROR. Tried before downloading.
    progress: a tqdm progress bar (bytes).
    url_base: download `<url_base>/<Set>/<file>` instead of the pinned URLs; default $SRLIB_DATA_URL_BASE.
    offline: never download (only keep and copy).
    timeout: seconds for connecting and for each read; retries: extra attempts per download.

    Raises PrepareError (listing the missing files and how to give a mirror) when some file could be obtained
    neither from the mirror nor by download; ValueError for unknown set names.
    """
    start = time.perf_counter()
    names, want_demo = split_sets(sets)
    root = Path(data_dir) if data_dir is not None else paths.data_dir()
    source = Sources.given(
        mirror, paths.mirror_dir(), "SRLIB_MIRROR", url_base, ENV_URL_BASE,
        offline=offline, timeout=timeout, retries=retries, hint=MIRROR_HINT, desc="srlib data",
    )  # fmt: skip
    counts = fetch_entries(entries(names) if names else [], root, source, progress=progress)
    summary = PrepareSummary(**vars(counts), data_dir=root, sets=names, demo=want_demo)
    if want_demo:
        from srlib.data.demo import materialize

        with _lock(root):
            materialize(root)
    summary.seconds = time.perf_counter() - start
    return summary


def prepare(
    sets: str | Iterable[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    progress: bool = True,
    **options: Any,
) -> Path:
    """`run_prepare` (same arguments; `options`: url_base, offline, timeout, retries), returning `data_dir`:
    `<data_dir>/<Set>/<file>` then holds every file of `sets`, sha256-verified."""
    return run_prepare(sets, data_dir, mirror, progress, **options).data_dir


@dataclass
class VerifyReport:
    """Result of `verify`: which files are in place, missing, or different from the manifest."""

    data_dir: Path
    sets: tuple[str, ...]
    ok: list[Entry] = field(default_factory=list)
    missing: list[Entry] = field(default_factory=list)
    corrupt: list[Entry] = field(default_factory=list)
    demo_ok: bool | None = None  # None: Demo not asked for

    @property
    def all_ok(self) -> bool:
        return not self.missing and not self.corrupt and self.demo_ok is not False

    def __str__(self) -> str:
        lines = []
        for s in self.sets:
            n_ok = sum(e.dataset == s for e in self.ok)
            n_missing = sum(e.dataset == s for e in self.missing)
            n_bad = sum(e.dataset == s for e in self.corrupt)
            state = "ok" if not (n_missing or n_bad) else f"{n_missing} missing, {n_bad} wrong size/sha256"
            lines.append(f"{s:<9} {n_ok:>4}/{n_ok + n_missing + n_bad:<4} {state}")
        if self.demo_ok is not None:
            lines.append(f"{'Demo':<9} {'ok' if self.demo_ok else 'missing or different from scikit-image'}")
        for e in self.corrupt[:SHOW_FIRST]:
            lines.append(f"wrong size or sha256: {e.path(self.data_dir)}")
        if not self.all_ok:
            bad_sets = sorted({e.dataset for e in self.missing + self.corrupt}, key=ALL_SETS.index)
            if self.demo_ok is False:
                bad_sets.append("Demo")
            lines.append(f"fix: srlib data prepare --sets {' '.join(bad_sets)} --data-dir {self.data_dir}")
        return "\n".join(lines)


def verify(
    sets: str | Iterable[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> VerifyReport:
    """Re-hash every file of `sets` in `data_dir` against the manifest (nothing is changed)."""
    from srlib.core.progress import tqdm

    names, want_demo = split_sets(sets)
    root = Path(data_dir) if data_dir is not None else paths.data_dir()
    report = VerifyReport(root, names)
    items = entries(names) if names else []
    with tqdm(
        total=sum(e.size for e in items), unit="B", unit_scale=True, desc="verify", disable=not progress
    ) as bar:
        for entry in items:
            path = entry.path(root)
            if not path.is_file():
                report.missing.append(entry)
            elif is_valid(entry, path):
                report.ok.append(entry)
            else:
                report.corrupt.append(entry)
            bar.update(entry.size)
    if want_demo:
        from srlib.data import demo

        report.demo_ok = all(
            f.is_file() and demo._matches(f, pixels)
            for (_, pixels), f in zip(demo.images(), demo.files(root), strict=True)
        )
    return report
