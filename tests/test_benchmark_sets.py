"""`set_files` / `load_set` / `iter_set` and the Demo set."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from srlib.data import benchmark, demo
from srlib.data.benchmark import DataNotPreparedError, load_set, set_files
from srlib.data.images import load_image
from srlib.data.manifest import entries

# --------------------------------------------------------------------------------------------- Demo (no data)


def test_demo_set_needs_no_download(tmp_path: Path):
    pairs = load_set("Demo", tmp_path)
    assert [name for name, _ in pairs] == [spec.name for spec in demo.IMAGES]
    assert len(pairs) == 6
    for (name, img), (ref_name, ref) in zip(pairs, demo.images(), strict=True):
        assert name == ref_name
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert img.shape[0] % 12 == 0 and img.shape[1] % 12 == 0
        assert min(img.shape[:2]) >= 192  # room for a x4 training patch of 48 LR pixels
        np.testing.assert_array_equal(img, ref)
    files = set_files("demo", tmp_path)
    assert files == [tmp_path / "Demo" / f"{spec.name}.png" for spec in demo.IMAGES]
    assert all(f.is_file() for f in files)


def test_demo_is_labelled_as_demo():
    assert "not a benchmark" in demo.LABEL and "not a benchmark" in demo.__doc__


def test_demo_materialize_keeps_good_files_and_repairs_bad(tmp_path: Path):
    folder = demo.materialize(tmp_path)
    assert folder == tmp_path / "Demo"
    files = demo.files(tmp_path)
    stamps = [f.stat().st_mtime_ns for f in files]
    demo.materialize(tmp_path)
    assert stamps == [f.stat().st_mtime_ns for f in files]  # nothing rewritten
    files[0].write_bytes(b"garbage")
    files[1].unlink()
    demo.materialize(tmp_path)
    for f, (_, ref) in zip(files, demo.images(), strict=True):
        np.testing.assert_array_equal(load_image(f), ref)
    assert files[2].stat().st_mtime_ns == stamps[2]
    assert not list(folder.glob("*.tmp"))


def test_prepare_and_verify_accept_demo(tmp_path: Path):
    from srlib.data.prepare import prepare, verify

    prepare(["Demo"], tmp_path, progress=False, offline=True)
    assert all(f.is_file() for f in demo.files(tmp_path))
    report = verify(["Demo"], tmp_path, progress=False)
    assert report.all_ok and report.demo_ok


# --------------------------------------------------------------------------------------------- names, errors


def test_unknown_set_lists_valid_names(tmp_path: Path):
    with pytest.raises(ValueError) as info:
        set_files("Set6", tmp_path)
    for name in benchmark.available_sets():
        assert name in str(info.value)


def test_missing_set_says_how_to_prepare(tmp_path: Path, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("set_files must not download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(DataNotPreparedError) as info:
        set_files("set5", tmp_path)
    message = str(info.value)
    assert "Set5 is not prepared" in message and "srlib data prepare --sets Set5" in message
    assert "--mirror" in message and "baby.png" in message
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(DataNotPreparedError):
        load_set("Set5", tmp_path)


@pytest.mark.data
def test_incomplete_set_detected(mirror_dir: Path, tmp_path: Path):
    target = tmp_path / "Set5"
    target.mkdir()
    for e in entries("Set5")[:3]:
        shutil.copyfile(e.path(mirror_dir), target / e.name)
    with pytest.raises(
        DataNotPreparedError, match=r"Set5 is incomplete.*2 of 5 files.*head\.png, woman\.png"
    ):
        set_files("Set5", tmp_path)
    for e in entries("Set5")[3:]:
        shutil.copyfile(e.path(mirror_dir), target / e.name)
    (target / "woman.png").write_bytes((target / "woman.png").read_bytes()[:100])
    with pytest.raises(DataNotPreparedError, match=r"woman\.png \(incomplete\)"):
        set_files("Set5", tmp_path)


def test_default_data_dir_from_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SRLIB_DATA", str(tmp_path))
    assert set_files("Demo")[0].parent == tmp_path / "Demo"


# --------------------------------------------------------------------------------------------- real sets


@pytest.mark.data
def test_set_files_in_manifest_order(data_dir: Path):
    for name in ("Set5", "Set14", "BSD100", "Urban100", "T91", "BSD200"):
        files = set_files(name, data_dir)
        assert [f.name for f in files] == [e.name for e in entries(name)]
        assert all(f.parent == data_dir / name for f in files)


@pytest.mark.data
def test_load_set5_and_gray_image_in_set14(data_dir: Path):
    pairs = load_set("Set5", data_dir)
    assert [n for n, _ in pairs] == ["baby", "bird", "butterfly", "head", "woman"]
    assert pairs[0][1].shape == (512, 512, 3) and pairs[0][1].dtype == np.uint8
    gray = dict(benchmark.iter_set("Set14", data_dir))["bridge"]  # the one mode-L image of Set14
    assert gray.shape == (512, 512, 3)
    np.testing.assert_array_equal(gray[..., 0], gray[..., 1])
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
