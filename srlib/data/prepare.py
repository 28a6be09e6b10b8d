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

import contextlib
import hashlib
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from srlib import __version__
from srlib.core import paths
from srlib.core.atomic import atomic_path
from srlib.core.errors import SrlibError
from srlib.core.provenance import sha256_file
from srlib.data.manifest import ALL_SETS, Entry, entries

log = logging.getLogger(__name__)

ENV_URL_BASE = "SRLIB_DATA_URL_BASE"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 2
RETRY_BACKOFF_S = 1.0  # sleep before retry k (0-based): RETRY_BACKOFF_S * 2**k
CHUNK = 1 << 20
SHOW_FIRST = 5  # failures listed by name in the error message
LOCK_NAME = ".srlib-prepare.lock"
FILE_MODE = 0o644  # temporary files are created 0600; published data files are world-readable

MIRROR_HINT = (
    "To copy the files from a local mirror, pass --mirror DIR to `srlib data prepare` (Python: "
    "prepare(mirror=DIR))\nor set SRLIB_MIRROR=DIR, where DIR is laid out as DIR/<Set>/<file> (e.g. "
    "DIR/Set5/baby.png).\nOtherwise allow HTTPS access to raw.githubusercontent.com, or serve such a folder "
    f"over HTTP and pass --url-base URL (${ENV_URL_BASE})."
)


class PrepareError(SrlibError, RuntimeError):
    """Some files could not be obtained (or verified); the message lists them and how to fix it."""


class _Mismatch(Exception):
    """Content whose size or sha256 differs from the manifest."""


class _Unreachable(Exception):
    """The download server cannot be reached at all."""


def is_valid(entry: Entry, path: Path) -> bool:
    """True when `path` holds exactly the manifest's bytes for `entry` (size first, then sha256)."""
    try:
        if path.stat().st_size != entry.size:
            return False
        return sha256_file(path) == entry.sha256
    except OSError:
        return False


def _write_verified(
    chunks: Iterable[bytes], entry: Entry, target: Path, advance: Callable[[int], object]
) -> None:
    """Stream `chunks` into a temporary file beside `target`, then rename it onto `target` only if the size
    and sha256 match `entry`; otherwise raise _Mismatch (the temporary file is removed)."""
    digest = hashlib.sha256()
    size = 0
    with atomic_path(target) as tmp:
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    advance(len(chunk))
                    if size > entry.size:
                        raise _Mismatch(f"more than the expected {entry.size} bytes")
            if size != entry.size:
                raise _Mismatch(f"got only {size} of {entry.size} bytes (transfer cut short?)")
            if digest.hexdigest() != entry.sha256:
                raise _Mismatch(f"sha256 {digest.hexdigest()[:12]}..., expected {entry.sha256[:12]}...")
            os.chmod(tmp, FILE_MODE)
        except BaseException:
            advance(-size)
            raise


def _read_chunks(fh: BinaryIO) -> Iterator[bytes]:
    yield from iter(lambda: fh.read(CHUNK), b"")


def _url(entry: Entry, url_base: str | None) -> str:
    if url_base is None:
        return entry.url
    quote = urllib.parse.quote
    return f"{url_base.rstrip('/')}/{quote(entry.dataset)}/{quote(entry.name)}"


def _is_connect_error(err: urllib.error.URLError) -> bool:
    return not isinstance(err, urllib.error.HTTPError) and isinstance(err.reason, OSError)


class _Downloader:
    """Downloads with retries; remembers when the server cannot be reached so that later files skip it."""

    def __init__(self, url_base: str | None, timeout: float, retries: int) -> None:
        self.url_base = url_base
        self.timeout = timeout
        self.retries = retries
        self.unreachable: str | None = None

    def fetch(self, entry: Entry, target: Path, advance: Callable[[int], object]) -> str | None:
        """Download `entry` onto `target`; None on success, else the reason it failed."""
        if self.unreachable is not None:
            return "download: server unreachable (see below)"
        url = _url(entry, self.url_base)
        reason = "?"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))
            try:
                self._fetch_once(url, entry, target, advance)
                return None
            except _Unreachable as e:
                reason = f"cannot connect to {urllib.parse.urlsplit(url).netloc} ({e})"
                if attempt == self.retries:
                    self.unreachable = reason
                    return "download: server unreachable (see below)"
            except urllib.error.HTTPError as e:
                reason = f"HTTP {e.code} {e.reason} for {url}"
                if e.code < 500 and e.code != 429:
                    return f"download failed: {reason}"
            except _Mismatch as e:
                reason = f"wrong content from {url}: {e}"
            except (OSError, http.client.HTTPException) as e:  # reset, timeout, incomplete read, ...
                reason = f"transfer from {url} broken: {type(e).__name__}: {e}"
        tries = f" (after {self.retries + 1} attempts)" if self.retries else ""
        return f"download failed{tries}: {reason}"

    def _fetch_once(self, url: str, entry: Entry, target: Path, advance: Callable[[int], object]) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": f"srlib/{__version__} (data prepare)"})
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError:
            raise
        except urllib.error.URLError as e:
            if _is_connect_error(e):
                raise _Unreachable(str(e.reason)) from e
            raise
        except (TimeoutError, ConnectionError, socket.gaierror) as e:
            raise _Unreachable(f"{type(e).__name__}: {e}") from e
        with response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) != entry.size:
                raise _Mismatch(f"server announces {length} bytes, expected {entry.size}")
            _write_verified(_read_chunks(response), entry, target, advance)


def _copy_from_mirror(
    entry: Entry, mirror: Path, target: Path, advance: Callable[[int], object]
) -> str | None:
    """Copy `entry` from `mirror` onto `target`; None on success, else why not (the mirror file is not
    copied when its size or hash is wrong)."""
    source = entry.path(mirror)
    if not source.is_file():
        return "not in mirror"
    size = source.stat().st_size
    if size != entry.size:
        return f"mirror copy {source} has {size} bytes, expected {entry.size} (not copied)"
    if source.resolve() == target.resolve():  # the data dir is the mirror: nothing to copy, only to check
        ok = sha256_file(source) == entry.sha256
        return None if ok else f"{source} has the wrong sha256 (data dir is the mirror)"
    try:
        fh = open(source, "rb")  # noqa: SIM115 - errors opening the source are reported, writing ones raise
    except OSError as e:
        return f"cannot read mirror copy {source}: {e}"
    with fh:
        try:
            _write_verified(_read_chunks(fh), entry, target, advance)
        except _Mismatch as e:
            return f"mirror copy {source} is corrupt: {e} (not copied)"
    return None


@contextlib.contextmanager
def _lock(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with open(data_dir / LOCK_NAME, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another `srlib data prepare` on %s to finish", data_dir)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_stale_temporaries(items: list[Entry], data_dir: Path) -> int:
    """Delete temporary files (`.<name>.*.tmp`, core.atomic) left by a killed run; only under the lock."""
    removed = 0
    for entry in items:
        folder = data_dir / entry.dataset
        if folder.is_dir():
            for tmp in folder.glob(f".{entry.name}.*.tmp"):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


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


@dataclass
class PrepareSummary:
    """What `run_prepare` did."""

    data_dir: Path
    sets: tuple[str, ...]
    demo: bool
    kept: int = 0
    copied: int = 0
    downloaded: int = 0
    total_bytes: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = ", ".join(self.sets + (("Demo",) if self.demo else ()))
        text = (
            f"{parts}: {self.kept + self.copied + self.downloaded} files ({self.total_bytes / 1e6:.1f} MB) "
            f"verified in {self.data_dir} -- {self.kept} already present, {self.copied} copied from the "
            f"mirror, {self.downloaded} downloaded ({self.seconds:.1f} s)"
        )
        return "\n".join([text, *(f"warning: {w}" for w in self.warnings)])


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
    """`prepare`, returning a summary of what was kept, copied and downloaded (the CLI prints it)."""
    from srlib.core.progress import tqdm

    start = time.perf_counter()
    names, want_demo = split_sets(sets)
    root = Path(data_dir) if data_dir is not None else paths.data_dir()
    mirror_path = Path(mirror) if mirror is not None else paths.mirror_dir()
    bad_mirror = None
    if mirror_path is not None and not mirror_path.is_dir():  # an error once a file has to be fetched
        source = "mirror argument" if mirror is not None else "$SRLIB_MIRROR"
        bad_mirror = f"the {source} {mirror_path} is not a directory.\n{MIRROR_HINT}"
    if url_base is None:
        url_base = os.environ.get(ENV_URL_BASE) or None
    items = entries(names) if names else []
    summary = PrepareSummary(root, names, want_demo, total_bytes=sum(e.size for e in items))
    downloader = _Downloader(url_base, timeout, retries)
    failures: list[tuple[Entry, str]] = []

    with _lock(root):
        stale = _remove_stale_temporaries(items, root)
        if stale:
            log.info("removed %d temporary files left by an interrupted run", stale)
        bar = tqdm(
            total=summary.total_bytes, unit="B", unit_scale=True, desc="srlib data", disable=not progress
        )
        with bar:
            for entry in items:
                target = entry.path(root)
                bar.set_postfix_str(entry.relpath, refresh=False)
                if target.is_file() and is_valid(entry, target):
                    summary.kept += 1
                    bar.update(entry.size)
                    continue
                if bad_mirror is not None:
                    raise PrepareError(bad_mirror)
                if target.exists():
                    log.info("%s has the wrong size or sha256; fetching it again", target)
                reasons = []
                if mirror_path is not None:
                    why = _copy_from_mirror(entry, mirror_path, target, bar.update)
                    if why is None:
                        summary.copied += 1
                        continue
                    reasons.append(why)
                    if why != "not in mirror":
                        log.warning("%s: %s", entry.relpath, why)
                        summary.warnings.append(f"{entry.relpath}: {why}")
                else:
                    reasons.append("no mirror given")
                if offline:
                    reasons.append("offline: no download attempted")
                else:
                    why = downloader.fetch(entry, target, bar.update)
                    if why is None:
                        summary.downloaded += 1
                        continue
                    reasons.append(why)
                failures.append((entry, "; ".join(reasons)))
        if want_demo:
            from srlib.data.demo import materialize

            materialize(root)

    summary.seconds = time.perf_counter() - start
    if failures:
        raise PrepareError(_failure_message(failures, items, root, downloader.unreachable))
    return summary


def _failure_message(
    failures: list[tuple[Entry, str]], items: list[Entry], root: Path, unreachable: str | None
) -> str:
    per_set: dict[str, int] = {}
    for entry, _ in failures:
        per_set[entry.dataset] = per_set.get(entry.dataset, 0) + 1
    counts = ", ".join(f"{s}: {n}" for s, n in per_set.items())
    lines = [f"could not obtain {len(failures)} of {len(items)} files into {root} ({counts}):"]
    lines += [f"  {entry.relpath}: {why}" for entry, why in failures[:SHOW_FIRST]]
    if len(failures) > SHOW_FIRST:
        lines.append(f"  ... and {len(failures) - SHOW_FIRST} more")
    if unreachable is not None:
        lines.append(f"Downloads: {unreachable}; no further download was attempted.")
    lines.append("Files already present and verified were kept: a rerun resumes where this one stopped.")
    lines.append(MIRROR_HINT)
    return "\n".join(lines)


def prepare(
    sets: str | Iterable[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    url_base: str | None = None,
    offline: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
) -> Path:
    """Make `<data_dir>/<Set>/<file>` hold every file of `sets`, sha256-verified; return `data_dir`.

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
    return run_prepare(
        sets,
        data_dir,
        mirror,
        progress,
        url_base=url_base,
        offline=offline,
        timeout=timeout,
        retries=retries,
    ).data_dir


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
