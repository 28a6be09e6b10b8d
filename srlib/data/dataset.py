"""`PatchDataset`: random aligned LR/HR training patches read from the HDF5 cache of `srlib.data.patches`.

Sample `i` is a pure function of `(seed, i)`: a numpy Generator seeded with `SeedSequence([seed, i])` draws,
in this order, the image, the LR crop's top-left corner `(y, x)`, then the horizontal flip, the vertical flip
and the 90-degree rotation (each with probability 0.5, so the 8 dihedral transforms are equally likely).
Neither the worker that computes it nor the order of the calls matters, so a trainer resumes and shards
(DDP) exactly by index arithmetic: step `t` of a run with global batch `B` reads indices `t*B ... t*B+B-1`
(`length` is only the size `len()` reports; make it at least steps x batch).

The HR patch is cut at the aligned place `(y*scale, x*scale)` of the cached HR image, the LR patch at `(y, x)`
of the cached LR image (= degrade(HR)), and both go through the same flips/rotation. Output: float32 CHW
tensors in [0, 1]: `lr` is `C x p x p`, `hr` is `C x p*scale x p*scale`.

Image choice (`sampling`): "uniform" (default) picks each image with the same probability, as EDSR/RCAN-style
loaders do when every image is visited once per epoch; "area" weights each image by its number of possible
crop positions, i.e. every (image, position) pair is equally likely. On T91 + BSD200 the small T91 images
are 31% of the images but 15% of the pixels, so they give 31% of the samples under "uniform" and fewer than
15% under "area". The paper says only "randomly cropped from the training images"; the default follows
common practice.

Images smaller than the HR patch (`lr_patch * scale`) in either dimension are left out with a logged warning;
if none remains, construction fails with a ValueError naming the patch size and the largest image.

`in_channels=1` gives the Y channel of MATLAB's `rgb2ycbcr` (`core.color.rgb_to_y` / 255, not rounded: Y in
[16, 235] / 255), computed separately on the LR and the HR patch -- the LR patch's Y is what
`srlib.inference` gives a Y-only model at test time.

Workers: the HDF5 file is opened lazily, on the first `__getitem__` in each process (the handle is keyed by
the process id, and dropped when pickled), so DataLoader workers never use a handle inherited from the parent,
with either the fork or the spawn start method.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from srlib.core.color import rgb_to_y
from srlib.data.patches import check_cache, read_crop

log = logging.getLogger(__name__)

SAMPLING = ("uniform", "area")
# Handles inherited through fork, kept referenced so that the child never closes them (see _datasets).
_INHERITED: list[h5py.File] = []
_255 = np.float32(255.0)


@dataclass(frozen=True)
class Draw:
    """The random choices behind one sample: image (cache row), LR corner, and the transform applied."""

    image: int
    y: int
    x: int
    hflip: bool
    vflip: bool
    rot90: bool


def apply_transform(img: np.ndarray, hflip: bool, vflip: bool, rot90: bool) -> np.ndarray:
    """Flip left-right, then up-down, then rotate by 90 degrees (counter-clockwise) an `H x W x C` array."""
    if hflip:
        img = img[:, ::-1]
    if vflip:
        img = img[::-1]
    if rot90:
        img = np.rot90(img)
    return img


class PatchDataset(Dataset):
    """Random aligned `(lr, hr)` patch pairs from a training cache (see the module docstring).

    cache_path: a file made by `srlib.data.patches.build_cache`. lr_patch: LR patch side (the HR side is
    `lr_patch * scale`). length: what `len()` reports. seed: a non-negative integer. augment: random flips
    and rotation. in_channels: 3 (RGB) or 1 (Y). sampling: "uniform" or "area".
    """

    def __init__(
        self,
        cache_path: str | os.PathLike[str],
        lr_patch: int,
        length: int,
        seed: int,
        augment: bool = True,
        in_channels: int = 3,
        sampling: str = "uniform",
    ) -> None:
        for name, value, low in (("lr_patch", lr_patch, 1), ("length", length, 0), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (Y) or 3 (RGB), got {in_channels!r}")
        if sampling not in SAMPLING:
            raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
        self.cache_path = Path(cache_path)
        self.lr_patch, self.length, self.seed = int(lr_patch), int(length), int(seed)
        self.augment, self.in_channels, self.sampling = bool(augment), int(in_channels), sampling

        index = check_cache(self.cache_path)
        self.scale = index.scale
        self.hr_patch = self.lr_patch * self.scale
        lr_hw = index.lr_shapes[:, :2]
        fits = np.all(lr_hw >= self.lr_patch, axis=1)
        if not fits.any():
            largest = index.hr_shapes[np.argmax(index.hr_shapes[:, :2].min(axis=1))]
            raise ValueError(
                f"no image in {self.cache_path} is at least {self.hr_patch}x{self.hr_patch} (HR patch for LR "
                f"patch {self.lr_patch} at x{self.scale}); the largest is {largest[1]}x{largest[0]}: "
                "use a smaller patch"
            )
        if not fits.all():
            small = [index.images[i] for i in np.flatnonzero(~fits)]
            log.warning(
                "PatchDataset: leaving out %d of %d images smaller than the %dx%d HR patch (e.g. %s)",
                len(small), len(fits), self.hr_patch, self.hr_patch, ", ".join(small[:3]),
            )  # fmt: skip
        keep = np.flatnonzero(fits)
        self.images = tuple(index.images[i] for i in keep)
        self._hr_offsets, self._hr_shapes = index.hr_offsets[keep], index.hr_shapes[keep]
        self._lr_offsets, self._lr_shapes = index.lr_offsets[keep], index.lr_shapes[keep]
        # per image: number of LR crop positions in y and x
        self._positions = self._lr_shapes[:, :2] - self.lr_patch + 1
        self._cdf = None
        if sampling == "area":
            weights = self._positions.prod(axis=1).astype(np.float64)
            self._cdf = np.cumsum(weights / weights.sum())
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._lr_data = self._hr_data = None

    def __len__(self) -> int:
        return self.length

    def _index(self, i: int) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"index must be an integer, got {type(i).__name__}")
        if not -self.length <= i < self.length:
            raise IndexError(f"index {i} out of range for a PatchDataset of length {self.length}")
        return int(i) % self.length

    def draw(self, i: int) -> Draw:
        """The random choices of sample `i` (a pure function of `(seed, i)`)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self._index(i)]))
        if self._cdf is None:
            k = int(rng.integers(len(self.images)))
        else:
            k = min(int(np.searchsorted(self._cdf, rng.random(), side="right")), len(self.images) - 1)
        y = int(rng.integers(self._positions[k, 0]))
        x = int(rng.integers(self._positions[k, 1]))
        if not self.augment:
            return Draw(k, y, x, False, False, False)
        hflip, vflip, rot90 = (bool(b) for b in rng.random(3) < 0.5)
        return Draw(k, y, x, hflip, vflip, rot90)

    def _datasets(self) -> tuple[h5py.Dataset, h5py.Dataset]:
        """This process's `(lr, hr)` datasets, opening the file on first use in the process."""
        pid = os.getpid()
        if self._h5 is None or self._pid != pid:
            if self._h5 is not None:
                # Inherited through fork: not used, and not closed either (closing it would act on the
                # descriptor and the file lock the parent shares).
                _INHERITED.append(self._h5)
            self._h5, self._pid = h5py.File(self.cache_path, "r"), pid
            self._lr_data, self._hr_data = self._h5["lr"], self._h5["hr"]  # lookups cost ~0.3 ms each
        return self._lr_data, self._hr_data

    def patches(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample `i` as `uint8` `H x W x 3` RGB arrays `(lr, hr)`, after augmentation."""
        d = self.draw(i)
        (lr_data, hr_data), p, s = self._datasets(), self.lr_patch, self.scale
        lr = read_crop(lr_data, self._lr_offsets[d.image], self._lr_shapes[d.image], d.y, d.x, p, p)
        hr = read_crop(
            hr_data, self._hr_offsets[d.image], self._hr_shapes[d.image], d.y * s, d.x * s, p * s, p * s
        )
        return (
            apply_transform(lr, d.hflip, d.vflip, d.rot90),
            apply_transform(hr, d.hflip, d.vflip, d.rot90),
        )

    def _to_tensor(self, img: np.ndarray) -> torch.Tensor:
        # numpy, not torch: torch's elementwise ops on small tensors pay an OpenMP start-up (4 ms for a
        # 3x192x192 patch on a 2-core machine against 0.15 ms here).
        if self.in_channels == 1:
            return torch.from_numpy((rgb_to_y(img) / 255.0).astype(np.float32)[None])
        return torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / _255)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.patches(i)
        return self._to_tensor(lr), self._to_tensor(hr)

    def close(self) -> None:
        """Close this process's handle (a later `__getitem__` reopens it)."""
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = self._pid = self._lr_data = self._hr_data = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_h5=None, _pid=None, _lr_data=None, _hr_data=None)
        return state

    def __repr__(self) -> str:
        return (
            f"PatchDataset({str(self.cache_path)!r}, lr_patch={self.lr_patch}, length={self.length}, "
            f"seed={self.seed}, augment={self.augment}, in_channels={self.in_channels}, "
            f"sampling={self.sampling!r}; x{self.scale}, {len(self.images)} images)"
        )
