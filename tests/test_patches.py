"""The HDF5 training cache: contents, config, reuse, stale/corrupt rebuilds, atomic writes, small images."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

import srlib
from srlib.core.imresize import degrade, modcrop
from srlib.data import patches
from srlib.data.images import load_image
from srlib.data.patches import CacheError, build_cache, cache_path, check_cache, ensure_cache, read_image

SIZES = {"a.png": (64, 80), "b.png": (50, 46), "c.png": (37, 61), "d.bmp": (20, 24)}  # name: (H, W)


def write_images(folder: Path, sizes: dict[str, tuple[int, int]], seed: int = 0) -> list[tuple[str, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = []
    for name, (h, w) in sizes.items():
        path = folder / name
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(path)
        sources.append((f"{folder.name}/{name}", path))
    return sources


@pytest.fixture
def sources(tmp_path: Path) -> list[tuple[str, Path]]:
    return write_images(tmp_path / "Gen", SIZES)


def build(path: Path, sources, scale: int = 2) -> Path:
    return ensure_cache(path, sources, scale, sets=("Gen",), progress=False)


def stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def test_cache_holds_modcropped_hr_and_its_degradation(tmp_path, sources):
    path = build(tmp_path / "c.h5", sources, scale=3)
    index = check_cache(path, deep=True)
    assert index.scale == 3 and index.images == tuple(name for name, _ in sources)
    with h5py.File(path, "r") as h5:
        for i, (_, file) in enumerate(sources):
            hr = modcrop(load_image(file), 3)
            np.testing.assert_array_equal(read_image(h5, index, "hr", i), hr)
            np.testing.assert_array_equal(read_image(h5, index, "lr", i), degrade(hr, 3))
        attrs = h5.attrs
        assert attrs["format_version"] == patches.FORMAT_VERSION
        assert attrs["srlib_version"] == srlib.__version__
        assert int(attrs["scale"]) == 3
        expected = patches.source_config(sources, 3, ("Gen",))
        for key in ("sets", "files", "sha256"):
            assert patches._attr(attrs, key) == expected[key]
        assert attrs["degrade_probe"] == expected["degrade_probe"]
        assert patches._attr(attrs, "skipped") == {}


def test_valid_cache_is_reused_not_rebuilt(tmp_path, sources):
    path = build(tmp_path / "c.h5", sources)
    before = stamp(path)
    assert build(path, sources) == path
    assert stamp(path) == before


def test_changed_source_makes_cache_stale(tmp_path, sources, caplog):
    path = build(tmp_path / "c.h5", sources)
    changed = sources[1][1]
    Image.fromarray(np.full((50, 46, 3), 7, dtype=np.uint8)).save(changed)
    with pytest.raises(CacheError, match="1 source file"):
        check_cache(path, patches.source_config(sources, 2, ("Gen",)))
    with caplog.at_level(logging.WARNING, logger="srlib.data.patches"):
        build(path, sources)
    assert "rebuilding" in caplog.text and "stale" in caplog.text
    index = check_cache(path, deep=True)
    with h5py.File(path, "r") as h5:
        assert np.all(read_image(h5, index, "hr", 1) == 7)


def test_config_changes_make_cache_stale(tmp_path, sources):
    path = build(tmp_path / "c.h5", sources)
    # a source added
    more = [*sources, *write_images(tmp_path / "Gen", {"e.png": (30, 30)}, seed=1)]
    before = stamp(path)
    build(path, more)
    assert stamp(path) != before and len(check_cache(path)) == len(more)
    # another format version, another degradation (its fingerprint): rebuilt
    for key, value in (("format_version", 0), ("degrade_probe", "0" * 16)):
        with h5py.File(path, "r+") as h5:
            h5.attrs[key] = value
        with pytest.raises(CacheError):
            check_cache(path, patches.source_config(more, 2, ("Gen",)))
        build(path, more)
        check_cache(path, patches.source_config(more, 2, ("Gen",)), deep=True)


def test_degrade_probe_follows_the_degradation(monkeypatch):
    import srlib.core.imresize

    probe = patches.degrade_probe(2)
    assert probe == patches.degrade_probe(2) != patches.degrade_probe(3)
    monkeypatch.setattr(srlib.core.imresize, "degrade", lambda hr, s: degrade(hr, s) // 2)
    assert patches.degrade_probe(2) != probe


def test_truncated_cache_is_detected_and_rebuilt(tmp_path, sources):
    path = build(tmp_path / "c.h5", sources)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(CacheError):
        check_cache(path)
    build(path, sources)
    assert path.stat().st_size == size
    check_cache(path, deep=True)


def test_corrupt_pixels_are_detected_by_the_deep_check(tmp_path, sources):
    path = build(tmp_path / "c.h5", sources)
    with h5py.File(path, "r") as h5:
        where = h5["hr"].id.get_offset() + 1000
    with open(path, "r+b") as fh:
        fh.seek(where)
        byte = fh.read(1)
        fh.seek(where)
        fh.write(bytes([byte[0] ^ 0xFF]))
    check_cache(path)  # shapes and config are intact ...
    with pytest.raises(CacheError, match="corrupt"):
        check_cache(path, deep=True)  # ... the content hash is not
    before = stamp(path)
    build(path, sources)
    assert stamp(path) != before
    check_cache(path, deep=True)


def test_not_an_hdf5_file_is_replaced(tmp_path, sources):
    path = tmp_path / "c.h5"
    path.write_bytes(b"not HDF5 at all")
    with pytest.raises(CacheError, match="cannot open"):
        check_cache(path)
    build(path, sources)
    check_cache(path, deep=True)


def test_inconsistent_index_is_detected(tmp_path, sources):
    path = build(tmp_path / "c.h5", sources)
    with h5py.File(path, "r+") as h5:
        h5["lr_shapes"][0, 0] += 1
    with pytest.raises(CacheError, match="offsets/shapes"):
        check_cache(path)


def _interrupt_while_writing(monkeypatch):
    """Fail inside the HDF5 write, after the pixel data went into the temporary file."""

    def fail(h5):
        assert h5["hr"].shape[0] > 0
        raise RuntimeError("interrupted")

    monkeypatch.setattr(patches, "_content_sha256", fail)


def test_interrupted_build_leaves_no_file(tmp_path, sources, monkeypatch):
    folder = tmp_path / "cache"
    _interrupt_while_writing(monkeypatch)
    with pytest.raises(RuntimeError, match="interrupted"):
        build(folder / "c.h5", sources)
    assert list(folder.iterdir()) == []


def test_interrupted_rebuild_keeps_the_old_file(tmp_path, sources, monkeypatch):
    path = build(tmp_path / "cache" / "c.h5", sources)
    old = path.read_bytes()
    Image.fromarray(np.zeros((64, 80, 3), dtype=np.uint8)).save(sources[0][1])  # stale now
    _interrupt_while_writing(monkeypatch)
    with pytest.raises(RuntimeError, match="interrupted"):
        build(path, sources)
    assert path.read_bytes() == old
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_images_smaller_than_the_scale_are_skipped(tmp_path, caplog):
    sources = write_images(tmp_path / "Gen", {"ok.png": (20, 30), "thin.png": (2, 40), "dot.png": (1, 1)})
    with caplog.at_level(logging.WARNING, logger="srlib.data.patches"):
        path = build(tmp_path / "c.h5", sources, scale=3)
    assert "Gen/thin.png" in caplog.text and "Gen/dot.png" in caplog.text
    assert check_cache(path).images == ("Gen/ok.png",)
    with h5py.File(path, "r") as h5:
        assert set(patches._attr(h5.attrs, "skipped")) == {"Gen/thin.png", "Gen/dot.png"}
    before = stamp(path)
    build(path, sources, scale=3)  # skipping is part of a valid cache: no rebuild
    assert stamp(path) == before
    with pytest.raises(ValueError, match="none of the 1 source images"):
        build(tmp_path / "d.h5", sources[2:], scale=3)


def test_argument_errors(tmp_path, sources):
    with pytest.raises(ValueError, match="scale"):
        build(tmp_path / "c.h5", sources, scale=1)
    with pytest.raises(ValueError, match="set names"):
        cache_path([], 2, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="no source"):
        build(tmp_path / "c.h5", [])


def test_cache_path_defaults_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path / "env"))
    assert cache_path(["T91", "BSD200"], 2) == tmp_path / "env" / "cache" / "train_T91+BSD200_x2.h5"
    assert cache_path("T91", 4, data_dir=tmp_path) == tmp_path / "cache" / "train_T91_x4.h5"
    assert cache_path(("T91", "T91"), 3, cache_dir=tmp_path / "c") == tmp_path / "c" / "train_T91_x3.h5"


def test_build_cache_from_the_demo_set(tmp_path):
    path = build_cache("Demo", 2, data_dir=tmp_path, progress=False)
    assert path == tmp_path / "cache" / "train_Demo_x2.h5"
    index = check_cache(path, deep=True)
    assert len(index) == len(os.listdir(tmp_path / "Demo")) and index.scale == 2
    before = stamp(path)
    assert build_cache("Demo", 2, data_dir=tmp_path, progress=False) == path
    assert build_cache(["demo", "DEMO"], 2, data_dir=tmp_path, progress=False) == path  # canonical names
    assert stamp(path) == before


@pytest.mark.data
def test_build_cache_from_t91(data_dir, tmp_path):
    path = build_cache("T91", 4, data_dir=data_dir, cache_dir=tmp_path, progress=False)
    index = check_cache(path, deep=True)
    assert len(index) == 91 and index.images[0].startswith("T91/")
    i = 17
    file = data_dir / index.images[i]
    with h5py.File(path, "r") as h5:
        hr = read_image(h5, index, "hr", i)
        np.testing.assert_array_equal(hr, modcrop(load_image(file), 4))
        np.testing.assert_array_equal(read_image(h5, index, "lr", i), degrade(hr, 4))
