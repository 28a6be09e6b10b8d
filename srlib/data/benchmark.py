"""Benchmark, training and demo sets as files and as (name, HR image) pairs.

`set_files(name)` returns a prepared set's files; `load_set(name)` / `iter_set(name)` decode them with
`srlib.data.images.load_image` (uint8 RGB, H x W x 3) and pair each with its name (the file name without
extension, e.g. "baby"). Names are case-insensitive: "Set5", "Set14", "BSD100", "Urban100", "T91", "BSD200"
(manifest sets) and "Demo" (scikit-image photographs, a demo set, not a benchmark).

Nothing here downloads: a manifest set that is not (completely) in the data directory raises
`DataNotPreparedError`, telling you to run `srlib data prepare --sets NAME`. The check is cheap (every file
present with its manifest size); `srlib data verify` re-hashes. The Demo set needs no download and is written
into `<data_dir>/Demo/` on first use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from srlib.core import paths
from srlib.data.demo import DEMO_SET
from srlib.data.manifest import ALL_SETS, SET_GROUPS, entries

PathLike = str | os.PathLike[str]
SHOW_FIRST = 5


class DataNotPreparedError(FileNotFoundError):
    """A set is missing or incomplete in the data directory; the message says how to prepare it."""


def available_sets() -> tuple[str, ...]:
    """Every set name `set_files` / `load_set` accept."""
    return (*ALL_SETS, DEMO_SET)


def canonical_name(name: str) -> str:
    """The canonical spelling of a set name (case-insensitive); ValueError listing the valid names."""
    for valid in available_sets():
        if str(name).lower() == valid.lower():
            return valid
    hint = f" (groups like {name!r} are for `srlib data prepare`)" if str(name).lower() in SET_GROUPS else ""
    raise ValueError(f"unknown set {name!r}{hint}; valid sets: {', '.join(available_sets())}")


def set_files(name: str, data_dir: PathLike | None = None) -> list[Path]:
    """The files of set `name` under `data_dir` (default `srlib.core.paths.data_dir()`), in manifest order.

    Raises DataNotPreparedError when any file is missing or has the wrong size (no download happens here).
    """
    name = canonical_name(name)
    root = Path(data_dir) if data_dir is not None else paths.data_dir()
    if name == DEMO_SET:
        from srlib.data import demo

        demo.materialize(root)
        return demo.files(root)
    rows = entries([name])
    files = [e.path(root) for e in rows]
    bad = []
    for entry, path in zip(rows, files, strict=True):
        try:
            if path.stat().st_size != entry.size:
                bad.append(f"{entry.name} (incomplete)")
        except OSError:
            bad.append(entry.name)
    if bad:
        shown = ", ".join(bad[:SHOW_FIRST]) + (
            f", ... ({len(bad) - SHOW_FIRST} more)" if len(bad) > SHOW_FIRST else ""
        )
        state = "is not prepared" if len(bad) == len(rows) else "is incomplete"
        raise DataNotPreparedError(
            f"{name} {state} in {root}: {len(bad)} of {len(rows)} files missing or wrong size ({shown}). "
            f"Run `srlib data prepare --sets {name}` (add `--data-dir {root}` if that is not your default; "
            "`--mirror DIR` or SRLIB_MIRROR=DIR to copy from a local mirror laid out as DIR/<Set>/<file>), "
            f"or in Python: srlib.data.prepare.prepare(sets=[{name!r}], data_dir=...)."
        )
    return files


def iter_set(name: str, data_dir: PathLike | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (image name, uint8 RGB H x W x 3) for every file of the set, decoding one image at a time."""
    from srlib.data.images import load_image

    for path in set_files(name, data_dir):
        yield path.stem, load_image(path)


def load_set(name: str, data_dir: PathLike | None = None) -> list[tuple[str, np.ndarray]]:
    """All images of the set as (image name, uint8 RGB H x W x 3) pairs, in manifest order.

    Urban100 decodes to about 240 MB; use `iter_set` to hold one image at a time."""
    return list(iter_set(name, data_dir))
