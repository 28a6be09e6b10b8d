"""The "Demo" set: six colour photographs bundled with scikit-image, so srlib runs with no download at all.

**This is a demo set, not a benchmark.** Its numbers are not comparable to anything published; use it for
smoke tests, tiny training runs, notebooks without data, and examples. Everywhere a set name is accepted
(`srlib.data.benchmark.load_set`, `set_files`, `srlib data prepare --sets Demo`, training caches) "Demo" works
too, and it is materialised as PNG files into `<data_dir>/Demo/` so that file-based code paths work unchanged.

Each image is a fixed crop of a `skimage.data` photograph, chosen to keep an interesting region and sizes
divisible by 12 (so every scale 2, 3, 4 divides them and no modcrop is needed), 264-360 pixels a side. The
files are written atomically; an existing file is kept when its pixels equal the expected crop (so its bytes
and therefore its sha256 stay stable) and rewritten otherwise.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEMO_SET = "Demo"
LABEL = "Demo (scikit-image sample photographs; a demo set, not a benchmark)"


@dataclass(frozen=True)
class DemoImage:
    """`name`.png is `skimage.data.<loader>()[top:top+height, left:left+width]`."""

    name: str
    loader: str
    top: int
    left: int
    height: int
    width: int
    credit: str


IMAGES: tuple[DemoImage, ...] = (
    DemoImage("astronaut", "astronaut", 0, 96, 300, 312, "Eileen Collins; NASA, public domain"),
    DemoImage("chelsea", "chelsea", 0, 60, 300, 336, "Chelsea the cat; Stefan van der Walt, CC0"),
    DemoImage("coffee", "coffee", 24, 132, 348, 360, "coffee cup; Rachel Michetti, CC0"),
    DemoImage("rocket", "rocket", 60, 168, 288, 300, "DSCOVR on Falcon 9; SpaceX, public domain"),
    DemoImage("motorcycle", "stereo_motorcycle", 204, 36, 276, 348, "left view; Middlebury 2014 stereo"),
    DemoImage("ihc", "immunohistochemistry", 0, 0, 288, 264, "IHC staining; CMMI, no known restrictions"),
)


@functools.cache
def _source(loader: str) -> np.ndarray:
    """The full scikit-image photograph (cached per process; callers must not modify it)."""
    import skimage.data

    fn: Callable[[], object] = getattr(skimage.data, loader)
    image = fn()
    if isinstance(image, tuple):  # stereo_motorcycle -> (left, right, disparity)
        image = image[0]
    array = np.asarray(image)
    array.flags.writeable = False
    return array


def image(name: str) -> np.ndarray:
    """One demo image as uint8 RGB H x W x 3 (straight from scikit-image, no file involved)."""
    for spec in IMAGES:
        if spec.name == name:
            src = _source(spec.loader)
            crop = src[spec.top : spec.top + spec.height, spec.left : spec.left + spec.width, :3]
            if crop.shape != (spec.height, spec.width, 3) or crop.dtype != np.uint8:
                raise RuntimeError(
                    f"scikit-image's {spec.loader} is {src.dtype} {src.shape}; cannot cut demo crop {spec}"
                )
            return crop.copy()
    raise ValueError(f"no demo image {name!r}; demo images: {', '.join(s.name for s in IMAGES)}")


def images() -> list[tuple[str, np.ndarray]]:
    """All demo images as (name, uint8 RGB) pairs, in a fixed order."""
    return [(spec.name, image(spec.name)) for spec in IMAGES]


def files(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where the demo PNGs live (or will live) under `data_dir`, in the order of `images()`."""
    from srlib.core import paths

    root = Path(data_dir) if data_dir is not None else paths.data_dir()
    return [root / DEMO_SET / f"{spec.name}.png" for spec in IMAGES]


def _matches(path: Path, expected: np.ndarray) -> bool:
    from srlib.data.images import ImageError, load_image

    try:
        return bool(np.array_equal(load_image(path), expected))
    except ImageError:
        return False


def materialize(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write the demo images as PNG into `<data_dir>/Demo/` (atomically; files already right are kept) and
    return that folder."""
    from PIL import Image

    from srlib.core.atomic import atomic_path

    targets = files(data_dir)
    for (_, pixels), target in zip(images(), targets, strict=True):
        if target.is_file() and _matches(target, pixels):
            continue
        with atomic_path(target) as tmp:
            Image.fromarray(pixels, "RGB").save(tmp, format="PNG", compress_level=1)  # fast; ~1 MB in all
            os.chmod(tmp, 0o644)  # temporary files are created 0600
    return targets[0].parent
