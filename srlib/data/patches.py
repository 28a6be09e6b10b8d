"""HDF5 training cache: the training images decoded once, as HR (modcropped) and LR (= degrade(HR, scale)).

Layout (format version 1) -- whole images, not pre-cut patches:

- `hr`, `lr`: one flat `uint8` dataset per kind (contiguous, uncompressed), every image's `H x W x 3` pixels
  one after the other;
- `hr_offsets`, `lr_offsets` (`int64`, one per image): where each image starts in the flat dataset;
- `hr_shapes`, `lr_shapes` (`int64`, `n x 3`): each image's `(H, W, 3)`; `lr_shapes = hr_shapes / scale`.

A random crop is read as the rows it spans (one contiguous read of `h * W * 3` bytes), then sliced in
numpy -- see `read_crop`. `srlib.data.dataset.PatchDataset` draws the random crops.

Why whole images and not pre-cut patches (measured with benchmarks/loader_speed.py on T91 + BSD200 at x2; the
figures are in docs/benchmarks.md, "Training data loader"):

- whole images are exactly the paper's recipe ("randomly cropped from the training images"): every position of
  every image can be drawn, and any patch size can be used later from the same file;
- the file is small: 135 MB (HR + LR), against 353 MB for HR-96 patches cut at a stride of half a patch and
  239 MB for HR-192 ones, each of which offers only a grid of positions for one patch size (at HR 192, T91
  alone yields 129 such patches);
- pre-cut patches do read faster (raw (lr, hr) reads: about 1.5-3x, several thousand per second either way in
  one process), but the whole loader costs 0.4-1.1 ms of CPU per sample either way (augmentation, float
  conversion, collation), and a training step consumes far fewer samples per second than that.

The file records its own configuration as attributes: `format_version`, `srlib_version`, `scale`, `sets`,
`files` ("<Set>/<file>" per source file), `sha256` (of each source file), `degrade_probe` (a hash of
`degrade` applied to a fixed pseudo-random image: a change to the degradation code makes old caches stale),
`images` (the files stored, in order), `skipped` (source files left out, with the reason) and
`content_sha256` (of the `hr` and `lr` bytes).

`build_cache` builds the file once and afterwards only checks it: it is rebuilt when its configuration
differs from the sources on disk (a source file changed, files added or removed, another format version or
degradation) or when it is corrupt (HDF5 cannot open it -- a truncated file is refused by HDF5 itself --,
datasets missing or of inconsistent shapes, content hash mismatch). It is written atomically (temporary file
beside it, renamed onto it on success), so an interrupted build never leaves a partial cache.

Small images: an image smaller than `scale` in either dimension has no LR pixel and is skipped with a logged
warning (and recorded under `skipped`). Any other image is stored whatever its size: the patch size is known
only to the Dataset, which leaves out the images smaller than its HR patch (see `PatchDataset`).

Several processes (e.g. DDP ranks) may call `build_cache` at the same time: each builds its own temporary file
and the renames are atomic, so the result is a valid cache either way; a trainer should still build on rank 0
and wait at a barrier to save the duplicated work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

import srlib
from srlib.core import paths
from srlib.core.atomic import atomic_path
from srlib.core.errors import SrlibError
from srlib.core.provenance import sha256_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Config attributes compared with what the sources give: any difference makes the cache stale.
_CONFIG_KEYS = ("format_version", "scale", "sets", "files", "sha256", "degrade_probe")
_HASH_BLOCK = 1 << 24


class CacheError(SrlibError, RuntimeError):
    """The cache file is unreadable, corrupt or does not match the sources it should hold."""


@dataclass(frozen=True)
class CacheIndex:
    """Where each image lies in a cache file (read once; small and picklable)."""

    path: Path
    scale: int
    images: tuple[str, ...]
    hr_offsets: np.ndarray
    hr_shapes: np.ndarray
    lr_offsets: np.ndarray
    lr_shapes: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def _normalise_sets(sets: str | Iterable[str]) -> tuple[str, ...]:
    names = (sets,) if isinstance(sets, str) else tuple(sets)
    if not names or not all(isinstance(s, str) and s for s in names):
        raise ValueError(f"expected one or more set names, got {sets!r}")
    return tuple(dict.fromkeys(names))  # drop repeats, keep order


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 2:
        raise ValueError(f"scale must be an integer >= 2, got {scale!r}")
    return int(scale)


def cache_path(
    sets: str | Iterable[str],
    scale: int,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """`<cache_dir>/train_<Set>+<Set>_x<scale>.h5`; `cache_dir` defaults to `<data_dir>/cache`."""
    names = _normalise_sets(sets)
    scale = _check_scale(scale)
    if cache_dir is None:
        cache_dir = Path(data_dir if data_dir is not None else paths.data_dir()) / "cache"
    return Path(cache_dir) / f"train_{'+'.join(names)}_x{scale}.h5"


def degrade_probe(scale: int) -> str:
    """A fingerprint of `srlib.core.imresize.degrade` at `scale`: the hash of its output on a fixed image."""
    from srlib.core.imresize import degrade

    img = np.random.default_rng(20240601).integers(0, 256, size=(12 * scale, 10 * scale, 3), dtype=np.uint8)
    return hashlib.sha256(np.ascontiguousarray(degrade(img, scale)).tobytes()).hexdigest()[:16]


def source_config(sources: Sequence[tuple[str, Path]], scale: int, sets: Sequence[str]) -> dict:
    """The configuration a cache of `sources` ((name, path) pairs) must record to be up to date."""
    return {
        "format_version": FORMAT_VERSION,
        "scale": _check_scale(scale),
        "sets": list(sets),
        "files": [name for name, _ in sources],
        "sha256": [sha256_file(path) for _, path in sources],
        "degrade_probe": degrade_probe(scale),
    }


def _attr(attrs: h5py.AttributeManager, key: str):
    if key not in attrs:
        raise CacheError(f"attribute {key!r} missing")
    value = attrs[key]
    if key in ("sets", "files", "sha256", "images", "skipped", "content_sha256"):
        return json.loads(value)
    return value.item() if isinstance(value, np.generic) else value


def _content_sha256(h5: h5py.File) -> dict[str, str]:
    out = {}
    for kind in ("hr", "lr"):
        data, digest = h5[kind], hashlib.sha256()
        for start in range(0, data.shape[0], _HASH_BLOCK):
            digest.update(data[start : start + _HASH_BLOCK].tobytes())
        out[kind] = digest.hexdigest()
    return out


def check_cache(path: str | os.PathLike[str], expected: dict | None = None, deep: bool = False) -> CacheIndex:
    """Open and validate a cache file; return its index or raise CacheError saying what is wrong.

    Always checked: the file opens, the format version, the datasets exist with consistent shapes (offsets
    and shapes add up to the flat datasets' lengths, LR = HR / scale). `expected` (see `source_config`):
    the recorded configuration must equal it. `deep`: also re-hash the pixel data (135 MB for T91 + BSD200 at
    x2: a fraction of a second).
    """
    path = Path(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise CacheError(f"cannot open {path} as HDF5 ({exc})") from exc
    try:
        with h5:
            return _check_open(path, h5, expected, deep)
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise CacheError(f"{path} is unreadable or corrupt ({exc})") from exc


def _check_open(path: Path, h5: h5py.File, expected: dict | None, deep: bool) -> CacheIndex:
    version = _attr(h5.attrs, "format_version")
    if version != FORMAT_VERSION:
        raise CacheError(f"format version {version}, this srlib reads {FORMAT_VERSION}")
    if expected is not None:
        for key in _CONFIG_KEYS:
            have, want = _attr(h5.attrs, key), expected[key]
            if have != want:
                raise CacheError(f"stale: {_describe_difference(key, have, want)}")
    scale, images = int(_attr(h5.attrs, "scale")), _attr(h5.attrs, "images")
    index: dict[str, np.ndarray] = {}
    for kind in ("hr", "lr"):
        for name in (kind, f"{kind}_offsets", f"{kind}_shapes"):
            if name not in h5:
                raise CacheError(f"dataset {name!r} missing")
        data, offsets, shapes = h5[kind], h5[f"{kind}_offsets"][:], h5[f"{kind}_shapes"][:]
        if data.dtype != np.uint8 or data.ndim != 1:
            raise CacheError(f"dataset {kind!r} is {data.dtype} {data.shape}, expected flat uint8")
        if offsets.shape != (len(images),) or shapes.shape != (len(images), 3):
            raise CacheError(f"{kind} index has {offsets.shape}/{shapes.shape} rows for {len(images)} images")
        sizes = shapes.prod(axis=1)
        if (
            np.any(shapes[:, 2] != 3)
            or np.any(sizes <= 0)
            or not np.array_equal(offsets, np.cumsum(sizes) - sizes)
            or int(sizes.sum()) != data.shape[0]
        ):
            raise CacheError(f"{kind} offsets/shapes do not match the {data.shape[0]} bytes stored")
        index[kind + "_offsets"], index[kind + "_shapes"] = offsets.astype(np.int64), shapes.astype(np.int64)
    if not np.array_equal(index["hr_shapes"][:, :2], index["lr_shapes"][:, :2] * scale):
        raise CacheError(f"HR shapes are not the LR shapes times {scale}")
    if deep and _content_sha256(h5) != _attr(h5.attrs, "content_sha256"):
        raise CacheError("pixel data does not match its recorded hash (corrupt file)")
    return CacheIndex(path=path, scale=scale, images=tuple(images), **index)


def _describe_difference(key: str, have, want) -> str:
    if key == "sha256" and len(have) == len(want):
        # only reached when the file lists are equal (checked first in _CONFIG_KEYS order)
        return f"{sum(a != b for a, b in zip(have, want, strict=True))} source file(s) changed"
    if key == "files":
        added, removed = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        return f"source files differ: {len(added)} added {added[:3]}, {len(removed)} removed {removed[:3]}"
    return f"{key} is {have!r}, expected {want!r}"


def read_crop(
    data: h5py.Dataset | np.ndarray, offset: int, shape, y: int, x: int, h: int, w: int
) -> np.ndarray:
    """Pixels `[y:y+h, x:x+w]` of the image at `offset` with `shape` (H, W, 3) in a flat dataset."""
    width = int(shape[1])
    start = int(offset) + y * width * 3
    rows = data[start : start + h * width * 3].reshape(h, width, 3)
    return rows[:, x : x + w]


def read_image(h5: h5py.File, index: CacheIndex, kind: str, i: int) -> np.ndarray:
    """The whole HR or LR (`kind`) image `i` of an open cache file."""
    offsets, shapes = getattr(index, f"{kind}_offsets"), getattr(index, f"{kind}_shapes")
    h, w, _ = shapes[i]
    return read_crop(h5[kind], offsets[i], shapes[i], 0, 0, int(h), int(w))


def ensure_cache(
    path: str | os.PathLike[str],
    sources: Sequence[tuple[str, str | os.PathLike[str]]],
    scale: int,
    sets: Sequence[str] = (),
    progress: bool = True,
) -> Path:
    """Make `path` an up-to-date cache of `sources` ((name, file) pairs) at `scale`; return `path`.

    A valid, up-to-date cache is kept (checked deeply: config, shapes, content hash); otherwise it is built.
    `build_cache` is this function for the files of named training sets.
    """
    path = Path(path)
    sources = [(str(name), Path(file)) for name, file in sources]
    if not sources:
        raise ValueError("no source images to cache")
    expected = source_config(sources, scale, sets)
    if path.exists():
        try:
            check_cache(path, expected, deep=True)
            return path
        except CacheError as exc:
            log.warning("rebuilding training cache %s: %s", path, exc)
    _build(path, sources, expected, progress)
    return path


def _build(path: Path, sources: list[tuple[str, Path]], config: dict, progress: bool) -> None:
    from srlib.core.imresize import degrade, modcrop
    from srlib.core.progress import tqdm
    from srlib.data.images import load_image

    scale = config["scale"]
    kept: list[int] = []
    skipped: dict[str, str] = {}
    hrs: list[np.ndarray] = []
    lrs: list[np.ndarray] = []
    bar = tqdm(sources, desc=f"training cache x{scale}", unit="img", disable=not progress)
    for i, (name, file) in enumerate(bar):
        hr = load_image(file)
        if hr.shape[0] < scale or hr.shape[1] < scale:
            skipped[name] = f"{hr.shape[1]}x{hr.shape[0]} is smaller than the scale {scale}"
            log.warning("training cache: skipping %s (%s)", name, skipped[name])
            continue
        hr = np.ascontiguousarray(modcrop(hr, scale))
        lr = np.ascontiguousarray(degrade(hr, scale))
        if lr.shape != (hr.shape[0] // scale, hr.shape[1] // scale, 3) or lr.dtype != np.uint8:
            raise RuntimeError(f"degrade gave {lr.dtype} {lr.shape} for HR {hr.shape} at x{scale}")
        kept.append(i)
        hrs.append(hr)
        lrs.append(lr)
    if not kept:
        raise ValueError(f"none of the {len(sources)} source images is at least {scale} pixels wide and high")
    attrs = {
        **config,
        "images": [config["files"][i] for i in kept],
        "skipped": skipped,
        "srlib_version": srlib.__version__,
    }
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        for kind, images in (("hr", hrs), ("lr", lrs)):
            shapes = np.array([im.shape for im in images], dtype=np.int64)
            sizes = shapes.prod(axis=1)
            data = h5.create_dataset(kind, shape=(int(sizes.sum()),), dtype=np.uint8)
            for offset, im in zip(np.cumsum(sizes) - sizes, images, strict=True):
                data[offset : offset + im.size] = im.reshape(-1)
            h5[f"{kind}_offsets"] = np.cumsum(sizes) - sizes
            h5[f"{kind}_shapes"] = shapes
        attrs["content_sha256"] = _content_sha256(h5)
        for key, value in attrs.items():
            h5.attrs[key] = json.dumps(value) if isinstance(value, (list, dict)) else value
    log.info("training cache %s: %d images, %d skipped", path, len(kept), len(skipped))


def build_cache(
    sets: str | Iterable[str],
    scale: int,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Build (once) the HDF5 training cache of `sets` (e.g. ("T91", "BSD200"), or "Demo") at `scale`.

    Returns the cache's path (`cache_path(...)`); an existing cache is reused when it is valid and matches the
    sources on disk, otherwise rebuilt (see the module docstring). The sets must have been prepared
    (`srlib data prepare --sets ...`); `srlib.data.benchmark.set_files` says so otherwise.
    """
    from srlib.data.benchmark import canonical_name, set_files

    names = tuple(dict.fromkeys(canonical_name(name) for name in _normalise_sets(sets)))
    sources = [
        (f"{name}/{Path(file).name}", Path(file)) for name in names for file in set_files(name, data_dir)
    ]
    target = cache_path(names, scale, data_dir=data_dir, cache_dir=cache_dir)
    return ensure_cache(target, sources, scale, sets=names, progress=progress)
