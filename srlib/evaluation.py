"""The evaluation protocol, once: used by `srlib evaluate`, training-time validation and the figures.

Per image (docs/protocol.md): HR = modcrop(image, scale); LR = degrade(HR, scale) (MATLAB bicubic, uint8);
SR = the model's output through `srlib.inference.super_resolve`; PSNR and SSIM on Y with `shave = scale`,
or on the gray level for a single-channel file (`is_single_channel_file`). An image is named by its file stem
and its set by the file's folder (the set's canonical name). `evaluate` gives one row per (set, scale, image)
and `set_means` averages them per set; `Validator` is the same protocol on one small set, prepared once.

That is the `standard` protocol. `evaluate(..., protocol="authors")` applies instead the conventions of the
model's own released test code (SRCNN, VDSR, LapSRN; defined in `srlib.core.protocol`): the LR is made in
floating point from the Y channel or the RGB image, and the network's float output on that channel is
rounded and scored as that code does. Tiling and the self-ensemble work alike under both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from srlib.core import metrics
from srlib.core import protocol as protocols
from srlib.core.atomic import atomic_path, write_text
from srlib.core.device import resolve_device
from srlib.core.protocol import STANDARD, Conventions

ModelSpec = str | Callable[[int], nn.Module]
ROW_COLUMNS: tuple[str, ...] = ("model", "set", "scale", "image", "psnr", "ssim", "mode")
MEAN_COLUMNS: tuple[str, ...] = ("model", "set", "scale", "images", "psnr", "ssim")


# ----------------------------------------------------------------------------------------------------------
# The core: prepare one image, score one model on it


@dataclass(frozen=True)
class EvalImage:
    """One test image prepared by the protocol at one scale (`hr` modcropped uint8 RGB, `lr` degraded from
    it: uint8 RGB under `standard`, float under the `authors` conventions, see `core.protocol.degrade`);
    `source` (its file) names it in error messages."""

    set: str
    name: str
    scale: int
    hr: np.ndarray
    lr: np.ndarray
    gray: bool
    source: str
    conventions: Conventions = STANDARD


@dataclass(frozen=True)
class Scored:
    """A model's output on an `EvalImage`, its scores and how `super_resolve` ran it ("whole", "tiled")."""

    sr: np.ndarray
    psnr: float
    ssim: float
    mode: str


def is_single_channel_file(path: str | os.PathLike[str]) -> bool:
    """Whether an image file stores one (gray) channel, alpha aside: such images are scored on their gray
    level, as the MATLAB scripts behind the published tables do (see docs/protocol.md, "Grayscale")."""
    from PIL import Image

    with Image.open(path) as im:
        bands = [b for b in im.getbands() if b not in ("A", "a")]
    return len(bands) == 1 and bands[0] != "P"


def prepare(
    image: np.ndarray,
    scale: int,
    *,
    gray: bool,
    set_name: str = "",
    name: str = "",
    source: str = "image",
    conventions: Conventions = STANDARD,
) -> EvalImage:
    """HR and LR of `image` at `scale` by the protocol (modcrop, then MATLAB-bicubic degradation)."""
    from srlib.core.imresize import modcrop

    hr = modcrop(image, scale)
    conventions = protocols.for_image(conventions, gray, scale)
    lr = protocols.degrade(hr, scale, conventions, gray)
    return EvalImage(set_name, name, scale, hr, lr, gray, source, conventions)


def set_paths(set_name: str, data_dir: str | os.PathLike[str] | None, max_images: int | None) -> list[Path]:
    """The files of a set in manifest (= sorted) order, only the first `max_images` when that is given."""
    from srlib.data import benchmark

    files = benchmark.set_files(set_name, data_dir)
    return files[: int(max_images)] if max_images else files


def iter_images(
    paths: Iterable[Path], scales: Sequence[int], conventions: Conventions = STANDARD
) -> Iterator[EvalImage]:
    """Each file decoded once and prepared at every scale; named by its stem, its set by its folder."""
    from srlib.data.images import load_image

    for path in paths:
        path = Path(path)
        image, gray = load_image(path), is_single_channel_file(path)
        for scale in scales:
            yield prepare(
                image,
                scale,
                gray=gray,
                set_name=path.parent.name,
                name=path.stem,
                source=str(path),
                conventions=conventions,
            )


def score_image(
    net: nn.Module,
    item: EvalImage,
    device: torch.device | None = None,
    self_ensemble: bool = False,
    tile: int | str | None = "auto",
) -> Scored:
    """Run `net` on `item.lr` and score its output against `item.hr` (Y or gray, shave = scale), by the
    item's conventions. `Scored.sr` is the uint8 image scored: RGB, or the Y channel (HxW) under SRCNN's and
    VDSR's `authors` conventions. `tile`: as in `srlib.inference.super_resolve` (default "auto": whole
    image unless it is very large)."""
    conv = item.conventions
    run = _run_standard if conv == STANDARD else _run_float
    sr, mode = run(net, item, device, {"self_ensemble": self_ensemble, "tile": tile})
    if sr.shape[:2] != item.hr.shape[:2]:
        raise RuntimeError(
            f"the x{item.scale} model returned {sr.shape} for {item.source} (HR {item.hr.shape})"
        )
    try:
        if conv == STANDARD:
            psnr = metrics.psnr(sr, item.hr, shave=item.scale, grayscale=item.gray)
            ssim = metrics.ssim(sr, item.hr, shave=item.scale, grayscale=item.gray)
        else:
            psnr, ssim = protocols.scores(sr, item.hr, item.scale, conv, item.gray)
    except ValueError as exc:
        raise ValueError(f"{item.source} at x{item.scale}: {exc}") from exc
    return Scored(sr, psnr, ssim, mode)


def _run_standard(
    net: nn.Module, item: EvalImage, device: torch.device | None, options: dict
) -> tuple[np.ndarray, str]:
    from srlib.inference import super_resolve

    result = super_resolve(net, item.lr, device=device, **options)
    return result.image, result.mode


def _run_float(
    net: nn.Module, item: EvalImage, device: torch.device | None, options: dict
) -> tuple[np.ndarray, str]:
    """The network on the float LR channel of the `authors` conventions (tiling and self-ensemble as in
    `srlib.inference`), its output composed into the uint8 image those conventions score."""
    from srlib.inference import model_device, super_resolve_tensor

    if getattr(net, "in_channels", 1) != 1:
        raise ValueError(
            f"{item.conventions.name}: the released test code runs Y-only models (in_channels=1)"
        )
    dev = torch.device(device) if device is not None else model_device(net)
    net.to(dev)
    y = protocols.network_input(item.lr, item.conventions)
    x = torch.from_numpy(np.ascontiguousarray(y)).float()[None, None].to(dev)
    out, mode = super_resolve_tensor(net, x, **options)
    sr_y = out[0, 0].double().cpu().numpy()
    return protocols.compose(sr_y, item.lr, item.scale, item.conventions), mode


# ----------------------------------------------------------------------------------------------------------
# Training-time validation


class Validator:
    """Mean PSNR/SSIM of a model on a small set (Set5, Demo) at one scale, by `score_image`; the images are
    prepared once, so validating every few hundred iterations costs only the forward passes."""

    def __init__(
        self, set_name: str, scale: int, data_dir: str | os.PathLike[str] | None, max_images: int | None
    ):
        self.set_name, self.scale = set_name, scale
        self.pairs = list(iter_images(set_paths(set_name, data_dir, max_images), [scale]))

    def __call__(self, model: nn.Module, device: torch.device) -> dict[str, float | str | int]:
        was_training = model.training
        try:
            scores = [score_image(model, item, device) for item in self.pairs]
        finally:
            model.train(was_training)
        return {
            "psnr": float(np.mean([s.psnr for s in scores])),
            "ssim": float(np.mean([s.ssim for s in scores])),
            "set": self.set_name,
            "images": len(self.pairs),
        }


# ----------------------------------------------------------------------------------------------------------
# Evaluation on test sets


def _check_scales(scales: Iterable[int]) -> list[int]:
    out = list(scales)
    if not out or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in out):
        raise ValueError(f"evaluate: scales must be a non-empty list of positive integers, got {out!r}")
    return [int(s) for s in dict.fromkeys(out)]


def _model_label(model: ModelSpec, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(model, str):
        return model.lower()
    return getattr(model, "__name__", type(model).__name__)


def _build_models(
    model: ModelSpec, scales: Sequence[int], device: torch.device | None
) -> dict[int, nn.Module]:
    """One network per scale, in eval mode (on `device` if given); unknown names fail before data is read."""
    if isinstance(model, str):
        from srlib.models import build_model, model_factory

        model_factory(model)
        name = model

        def build(scale: int) -> nn.Module:
            return build_model(name, scale)
    elif callable(model):
        build = model
    else:
        raise ValueError(f"evaluate: model must be a registry name or a callable(scale), got {model!r}")
    nets = {}
    for scale in scales:
        net = build(scale)
        if getattr(net, "scale", scale) != scale:
            raise ValueError(f"evaluate: the model built for x{scale} has scale {net.scale}")
        nets[scale] = (net.to(device) if device is not None else net).eval()
    return nets


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def evaluate(
    model: ModelSpec,
    scales: Sequence[int],
    sets: Sequence[str],
    data_dir: str | os.PathLike[str] | None = None,
    out_csv: str | os.PathLike[str] | None = None,
    device: str | None = None,
    progress: bool = True,
    self_ensemble: bool = False,
    save_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    max_images: dict[str, int] | None = None,
    protocol: str = protocols.DEFAULT_PROTOCOL,
    tile: int | str | None = "auto",
) -> pd.DataFrame:
    """Score `model` on `sets` at `scales`; returns one row per image (columns `ROW_COLUMNS`).

    `model` is a registry name ("bicubic", "mlrn", ...) or a callable scale -> nn.Module (e.g. one that loads
    a checkpoint); `name` labels the rows (default: the registry name or the callable's `__name__`).
    `out_csv`: write the rows there and the set means beside it (`<stem>_means.csv`), atomically.
    `save_dir`: also write every SR image as `<save_dir>/<set>/x<scale>/<image>.png`.
    `self_ensemble`: x8 geometric self-ensemble in `super_resolve`.
    `max_images`: {set: n} scores only the first n files of that set (manifest order, i.e. sorted), the
    declared evaluation subset of a training profile (`srlib.train.eval_plan`); other sets in full.
    `protocol`: "standard" (default) or "authors" (the model's own released conventions, for SRCNN, VDSR
    and LapSRN; `srlib.core.protocol`). With "authors", SR images saved to `save_dir` are what is scored
    (the Y channel, gray PNG, for SRCNN and VDSR). `tile`: LR tile size, "auto" or None (`super_resolve`).
    """
    from srlib.core.progress import tqdm

    scales = _check_scales(scales)
    set_names = list(dict.fromkeys([sets] if isinstance(sets, str) else sets))
    if not set_names:
        raise ValueError("evaluate: give at least one set")
    label = _model_label(model, name)
    dev = resolve_device(device) if device is not None else None
    nets = _build_models(model, scales, dev)
    conv = model_conventions(protocol, nets[scales[0]])
    limits = {k.lower(): int(v) for k, v in (max_images or {}).items()}
    files = {s: set_paths(s, data_dir, limits.get(s.lower())) for s in set_names}

    rows: list[dict] = []
    total = sum(len(f) for f in files.values()) * len(scales)
    with tqdm(total=total, desc=f"evaluate {label}", unit="img", disable=not progress) as bar:
        for set_name in set_names:
            for item in iter_images(files[set_name], scales, conv):
                bar.set_postfix_str(f"{item.set} x{item.scale} {item.name}")
                scored = score_image(nets[item.scale], item, dev, self_ensemble, tile)
                rows.append(
                    {
                        "model": label,
                        "set": item.set,
                        "scale": item.scale,
                        "image": item.name,
                        "psnr": scored.psnr,
                        "ssim": scored.ssim,
                        "mode": scored.mode,
                    }
                )
                if save_dir is not None:
                    _save_png(Path(save_dir) / set_name / f"x{item.scale}" / f"{item.name}.png", scored.sr)
                bar.update(1)
    df = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    if out_csv is not None:
        write_csv(df, out_csv)
        write_csv(set_means(df), means_path(out_csv))
    return df


def model_conventions(protocol: str, net: nn.Module) -> Conventions:
    """The conventions `protocol` applies to `net` (its registry name picks the `authors` conventions)."""
    from srlib.models import registry_name

    return protocols.conventions(protocol, registry_name(net))


def means_path(out_csv: str | os.PathLike[str]) -> Path:
    """Where `evaluate` writes the set means for per-image rows written to `out_csv`."""
    path = Path(out_csv)
    return path.with_name(f"{path.stem}_means{path.suffix or '.csv'}")


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write `df` as CSV atomically (full float precision)."""
    write_text(path, df.to_csv(index=False))


def set_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR/SSIM per (model, set, scale), in the order the rows list them; an image with identical SR
    and HR (PSNR = inf) makes its set's PSNR mean inf, as a plain mean must."""
    missing = set(ROW_COLUMNS[:6]) - set(rows.columns)
    if missing:
        raise ValueError(f"set_means: rows lack columns {sorted(missing)}")
    grouped = rows.groupby(["model", "set", "scale"], sort=False)
    out = grouped.agg(images=("image", "size"), psnr=("psnr", "mean"), ssim=("ssim", "mean")).reset_index()
    return out[list(MEAN_COLUMNS)]
