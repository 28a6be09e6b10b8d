"""The fetch machinery behind `srlib data prepare` and `srlib weights prepare`: make `<root>/<group>/<name>`
hold exactly the bytes of a list of manifest entries (`srlib.data.manifest.Entry`).

Per entry, in order: keep a file already in place with the right size and sha256; else copy it from a mirror
folder laid out as `<mirror>/<group>/<name>` (a mirror file with a wrong size or hash is reported and not
copied); else download it from its pinned URL or from `<url_base>/<group>/<name>` (urllib, timeout, retries;
when the server cannot be reached at all the remaining downloads are not attempted). Every write goes to a
temporary file beside the target, hashed on the way and renamed onto the target only when size and sha256
match; temporary files left by a killed run are removed by the next one; concurrent runs on one folder are
serialised by a lock file. What is still missing at the end is reported in one `PrepareError`.
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
from typing import Any, BinaryIO

from srlib import __version__
from srlib.core.atomic import atomic_path
from srlib.core.errors import SrlibError
from srlib.core.provenance import sha256_file
from srlib.data.manifest import Entry

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 2
RETRY_BACKOFF_S = 1.0  # sleep before retry k (0-based): RETRY_BACKOFF_S * 2**k
CHUNK = 1 << 20
SHOW_FIRST = 5  # failures listed by name in the error message
LOCK_NAME = ".srlib-prepare.lock"
FILE_MODE = 0o644  # temporary files are created 0600; published data files are world-readable


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
            log.warning("waiting for another `srlib ... prepare` on %s to finish", data_dir)
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


@dataclass(kw_only=True)
class FetchCounts:
    """What `fetch_entries` did: files kept, copied from the mirror, downloaded, their bytes, the seconds it
    took; mirror problems seen. The base of the data and weights prepare summaries (one report format)."""

    kept: int = 0
    copied: int = 0
    downloaded: int = 0
    total_bytes: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def report(self, what: str, where: Path) -> str:
        """`<what> (<MB>) verified in <where> -- <kept> already present, ...` and one line per warning."""
        text = (
            f"{what} ({self.total_bytes / 1e6:.1f} MB) verified in {where} -- {self.kept} already present, "
            f"{self.copied} copied from the mirror, {self.downloaded} downloaded ({self.seconds:.1f} s)"
        )
        return "\n".join([text, *(f"warning: {w}" for w in self.warnings)])


@dataclass(frozen=True)
class Sources:
    """Where missing files come from: a mirror folder (`mirror_label` names the option or variable that gave
    it, for the error message), else downloads (pinned URLs, or `url_base`), unless `offline`. `hint` is the
    how-to-fix text of the error message."""

    mirror: Path | None = None
    mirror_label: str = "mirror argument"
    url_base: str | None = None
    offline: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    hint: str = ""
    desc: str = "fetch"

    @classmethod
    def given(
        cls,
        mirror: str | os.PathLike[str] | None,
        default_mirror: Path | None,
        mirror_env: str,
        url_base: str | None,
        url_env: str,
        **rest: Any,
    ) -> Sources:
        """The sources of a prepare call: the `mirror` argument, else `default_mirror` (from $`mirror_env`);
        `url_base`, else $`url_env`; `rest`: the other fields (offline, timeout, retries, hint, desc)."""
        return cls(
            mirror=Path(mirror) if mirror is not None else default_mirror,
            mirror_label="mirror argument" if mirror is not None else f"${mirror_env}",
            url_base=url_base if url_base is not None else (os.environ.get(url_env) or None),
            **rest,
        )


def fetch_entries(items: list[Entry], root: Path, source: Sources, *, progress: bool = True) -> FetchCounts:
    """Make `root/<group>/<name>` hold every entry of `items`, verified: keep, else copy from the mirror, else
    download (module docstring). Raises PrepareError listing what is missing. The one fetch loop behind both
    the data sets (`srlib.data.prepare`) and the released weights (`srlib.data.weights_manifest`)."""
    from srlib.core.progress import tqdm

    bad_mirror = None
    if source.mirror is not None and not source.mirror.is_dir():  # an error once a file has to be fetched
        bad_mirror = f"the {source.mirror_label} {source.mirror} is not a directory.\n{source.hint}"
    downloader = _Downloader(source.url_base, source.timeout, source.retries)
    failures: list[tuple[Entry, str]] = []
    start = time.perf_counter()
    summary = FetchCounts(total_bytes=sum(e.size for e in items))
    with _lock(root):
        stale = _remove_stale_temporaries(items, root)
        if stale:
            log.info("removed %d temporary files left by an interrupted run", stale)
        total = sum(e.size for e in items)
        with tqdm(total=total, unit="B", unit_scale=True, desc=source.desc, disable=not progress) as bar:
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
                why = _fetch_one(entry, target, source, downloader, summary, bar.update)
                if why is not None:
                    failures.append((entry, why))
    if failures:
        raise PrepareError(_failure_message(failures, items, root, downloader.unreachable, source.hint))
    summary.seconds = time.perf_counter() - start
    return summary


def _fetch_one(
    entry: Entry,
    target: Path,
    source: Sources,
    downloader: _Downloader,
    summary: FetchCounts,
    advance: Callable[[int], object],
) -> str | None:
    """Copy `entry` from the mirror, else download it; None on success, else every reason it failed."""
    reasons = []
    if source.mirror is not None:
        why = _copy_from_mirror(entry, source.mirror, target, advance)
        if why is None:
            summary.copied += 1
            return None
        reasons.append(why)
        if why != "not in mirror":
            log.warning("%s: %s", entry.relpath, why)
            summary.warnings.append(f"{entry.relpath}: {why}")
    else:
        reasons.append("no mirror given")
    if source.offline:
        reasons.append("offline: no download attempted")
    else:
        why = downloader.fetch(entry, target, advance)
        if why is None:
            summary.downloaded += 1
            return None
        reasons.append(why)
    return "; ".join(reasons)


def _failure_message(
    failures: list[tuple[Entry, str]], items: list[Entry], root: Path, unreachable: str | None, hint: str
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
    if hint:
        lines.append(hint)
    return "\n".join(lines)
