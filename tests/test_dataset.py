"""PatchDataset: aligned LR/HR patches, augmentation, determinism, per-worker HDF5 handles, small images."""

from __future__ import annotations

import collections
import logging
import os
import pickle

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from srlib.core.color import rgb_to_y
from srlib.core.imresize import degrade
from srlib.data.dataset import PatchDataset, apply_transform
from srlib.data.patches import check_cache, ensure_cache, read_image

SIZES = {"big.png": (90, 120), "mid.png": (66, 72), "tall.png": (100, 40), "small.png": (30, 36)}


@pytest.fixture(scope="module", params=[2, 3])
def cache(request, tmp_path_factory):
    """A cache of four random-noise images (one too small for some patches), at x2 and at x3."""
    folder = tmp_path_factory.mktemp("Gen")
    rng = np.random.default_rng(0)
    sources = []
    for name, (h, w) in SIZES.items():
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(folder / name)
        sources.append((f"Gen/{name}", folder / name))
    scale = request.param
    return ensure_cache(folder / f"x{scale}.h5", sources, scale, sets=("Gen",), progress=False)


def images(path):
    index = check_cache(path)
    with h5py.File(path, "r") as h5:
        pairs = [(read_image(h5, index, "lr", i), read_image(h5, index, "hr", i)) for i in range(len(index))]
    return index, pairs


def test_output_types_and_shapes(cache):
    ds = PatchDataset(cache, lr_patch=8, length=10, seed=0)
    s = ds.scale
    lr, hr = ds[3]
    assert lr.dtype == hr.dtype == torch.float32
    assert lr.shape == (3, 8, 8) and hr.shape == (3, 8 * s, 8 * s) and ds.hr_patch == 8 * s
    assert float(lr.min()) >= 0 and float(hr.max()) <= 1
    lr8, hr8 = ds.patches(3)
    assert torch.equal(lr, torch.from_numpy(lr8.transpose(2, 0, 1) / np.float32(255)))
    assert torch.equal(hr, torch.from_numpy(hr8.transpose(2, 0, 1) / np.float32(255)))
    assert len(ds) == 10


@pytest.mark.parametrize("augment", [False, True])
def test_patches_are_aligned_crops_of_the_cached_images(cache, augment):
    index, imgs = images(cache)
    ds = PatchDataset(cache, lr_patch=10, length=200, seed=1, augment=augment)
    s, p = ds.scale, ds.lr_patch
    for i in range(200):
        d = ds.draw(i)
        lr_img, hr_img = imgs[index.images.index(ds.images[d.image])]
        lr, hr = ds.patches(i)
        ref_lr = lr_img[d.y : d.y + p, d.x : d.x + p]
        ref_hr = hr_img[d.y * s : (d.y + p) * s, d.x * s : (d.x + p) * s]
        # the same transform on both
        np.testing.assert_array_equal(lr, apply_transform(ref_lr, d.hflip, d.vflip, d.rot90))
        np.testing.assert_array_equal(hr, apply_transform(ref_hr, d.hflip, d.vflip, d.rot90))
        if not augment:
            assert not (d.hflip or d.vflip or d.rot90)


def undo_transform(img, hflip, vflip, rot90):
    if rot90:
        img = np.rot90(img, -1)
    if vflip:
        img = img[::-1]
    if hflip:
        img = img[:, ::-1]
    return np.ascontiguousarray(img)


def test_lr_patch_is_the_degraded_hr_patch_away_from_borders(cache):
    """Independent of the cache layout: with the transform undone, degrading the HR patch gives exactly the LR
    patch except near its border, where the bicubic kernel reaches outside the patch.

    (Undone, because MATLAB's uint8 imresize rounds between its row and column passes, and a 90-degree
    rotation swaps which pass comes first: degrade(rotated HR) may differ from the rotated LR by a grey
    level.)
    """
    ds = PatchDataset(cache, lr_patch=12, length=100, seed=2)
    m = 3  # the antialiased kernel reaches 2 LR pixels
    for i in range(100):
        d = ds.draw(i)
        lr, hr = (undo_transform(a, d.hflip, d.vflip, d.rot90) for a in ds.patches(i))
        np.testing.assert_array_equal(degrade(hr, ds.scale)[m:-m, m:-m], lr[m:-m, m:-m])


def test_all_eight_transforms_are_drawn_evenly(cache):
    ds = PatchDataset(cache, lr_patch=8, length=1600, seed=3)
    counts = collections.Counter((d.hflip, d.vflip, d.rot90) for d in map(ds.draw, range(1600)))
    assert len(counts) == 8
    assert min(counts.values()) > 140 and max(counts.values()) < 260  # 200 expected each


def test_the_eight_transforms_are_distinct(cache):
    _, imgs = images(cache)
    patch = imgs[0][1][:16, :16]
    out = {apply_transform(patch, *flags).tobytes() for flags in np.ndindex(2, 2, 2)}
    assert len(out) == 8


def test_samples_depend_only_on_seed_and_index(cache):
    a = PatchDataset(cache, lr_patch=8, length=100, seed=7)
    b = PatchDataset(cache, lr_patch=8, length=100, seed=7)
    forward = [a[i] for i in range(20)]
    backward = [b[i] for i in reversed(range(20))][::-1]
    for (lr1, hr1), (lr2, hr2) in zip(forward, backward, strict=True):
        assert torch.equal(lr1, lr2) and torch.equal(hr1, hr2)
    assert torch.equal(a[5][1], a[5][1])
    assert torch.equal(a[-1][0], a[99][0])


def test_different_seeds_give_different_samples(cache):
    a = PatchDataset(cache, lr_patch=8, length=100, seed=0)
    b = PatchDataset(cache, lr_patch=8, length=100, seed=1)
    same = sum(torch.equal(a[i][1], b[i][1]) for i in range(50))
    assert same <= 3
    assert len({a.draw(i) for i in range(50)}) == 50


def test_sampling_uniform_or_by_area(cache):
    n = 4000
    uniform = PatchDataset(cache, lr_patch=8, length=n, seed=4)
    area = PatchDataset(cache, lr_patch=8, length=n, seed=4, sampling="area")
    k = len(uniform.images)
    counts = np.bincount([uniform.draw(i).image for i in range(n)], minlength=k) / n
    np.testing.assert_allclose(counts, 1 / k, atol=0.03)
    positions = (area._lr_shapes[:, 0] - 7) * (area._lr_shapes[:, 1] - 7)
    counts = np.bincount([area.draw(i).image for i in range(n)], minlength=k) / n
    np.testing.assert_allclose(counts, positions / positions.sum(), atol=0.03)


def test_y_channel(cache):
    rgb = PatchDataset(cache, lr_patch=8, length=10, seed=5)
    y = PatchDataset(cache, lr_patch=8, length=10, seed=5, in_channels=1)
    lr, hr = y[4]
    assert lr.shape == (1, 8, 8) and hr.shape == (1, 8 * y.scale, 8 * y.scale) and lr.dtype == torch.float32
    lr8, hr8 = rgb.patches(4)
    np.testing.assert_allclose(lr[0].numpy(), rgb_to_y(lr8) / 255, rtol=1e-6)
    np.testing.assert_allclose(hr[0].numpy(), rgb_to_y(hr8) / 255, rtol=1e-6)
    assert float(hr.min()) >= 16 / 255 - 1e-6 and float(hr.max()) <= 235 / 255 + 1e-6


def test_images_smaller_than_the_hr_patch_are_left_out(cache, caplog):
    index = check_cache(cache)
    with caplog.at_level(logging.WARNING, logger="srlib.data.dataset"):
        ds = PatchDataset(cache, lr_patch=36 // index.scale, length=100, seed=0)
    # small.png (30 x 36) is smaller than a 36 x 36 HR patch (after modcrop too)
    assert "Gen/small.png" not in ds.images and len(ds.images) == len(index) - 1
    assert "leaving out 1 of 4 images" in caplog.text and "Gen/small.png" in caplog.text
    assert all(ds.draw(i).image < len(ds.images) for i in range(100))
    with pytest.raises(ValueError, match="use a smaller patch"):
        PatchDataset(cache, lr_patch=200, length=10, seed=0)


def test_argument_errors(cache):
    with pytest.raises(ValueError, match="lr_patch"):
        PatchDataset(cache, lr_patch=0, length=10, seed=0)
    with pytest.raises(ValueError, match="seed"):
        PatchDataset(cache, lr_patch=8, length=10, seed=-1)
    with pytest.raises(ValueError, match="in_channels"):
        PatchDataset(cache, lr_patch=8, length=10, seed=0, in_channels=2)
    with pytest.raises(ValueError, match="sampling"):
        PatchDataset(cache, lr_patch=8, length=10, seed=0, sampling="area-weighted")
    ds = PatchDataset(cache, lr_patch=8, length=10, seed=0)
    with pytest.raises(IndexError):
        ds[10]
    with pytest.raises(TypeError):
        ds[1.0]


class PidDataset(PatchDataset):
    """Also returns the pid of the process that computed the sample and the pid its handle belongs to."""

    def __getitem__(self, i):
        lr, hr = super().__getitem__(i)
        return lr, hr, os.getpid(), self._pid


def test_fork_workers_open_their_own_handle(cache):
    ds = PidDataset(cache, lr_patch=8, length=16, seed=6)
    parent_handle = ds._datasets()  # the parent opens the file before the workers fork
    loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="fork")
    batches = list(loader)
    assert len(batches) == 4
    pids = torch.cat([b[2] for b in batches])
    # every sample was read through a handle opened by the process that read it
    assert torch.equal(pids, torch.cat([b[3] for b in batches]))
    assert os.getpid() not in pids.tolist() and len(set(pids.tolist())) == 2
    lr = torch.cat([b[0] for b in batches])
    hr = torch.cat([b[1] for b in batches])
    for i in range(16):
        assert torch.equal(lr[i], ds[i][0]) and torch.equal(hr[i], ds[i][1])
    assert ds._datasets() == parent_handle and ds._pid == os.getpid()  # the parent's handle still works


def test_pickling_drops_the_handle(cache):
    ds = PatchDataset(cache, lr_patch=8, length=8, seed=0)
    lr, _ = ds[2]
    assert ds._h5 is not None
    copy = pickle.loads(pickle.dumps(ds))
    assert copy._h5 is None and copy._pid is None
    assert torch.equal(copy[2][0], lr)
    ds.close()
    assert ds._h5 is None and torch.equal(ds[2][0], lr)
