"""`srlib upscale`: super-resolve your own images (a file or a folder) with trained weights, the authors'
released weights (`--released srcnn|srcnn-915|vdsr|lapsrn`) or bicubic."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from srlib.commands.options import add_released_arguments, add_runtime_arguments
from srlib.core.errors import SrlibError
from srlib.core.paper import SCALES, variant_label

if TYPE_CHECKING:
    import torch
    from torch import nn

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".pnm")
# output suffix -> (PIL format, can store alpha)
OUTPUT_FORMATS = {
    ".png": ("PNG", True),
    ".jpg": ("JPEG", False),
    ".jpeg": ("JPEG", False),
    ".bmp": ("BMP", False),
    ".tif": ("TIFF", True),
    ".tiff": ("TIFF", True),
    ".webp": ("WEBP", True),
}

EPILOG = """\
what happens to each input:
  RGB              super-resolved as is
  grayscale        super-resolved as gray replicated to RGB, saved as grayscale again
  RGBA / gray+A    colour super-resolved, alpha upscaled by MATLAB bicubic, saved with alpha
                   (needs an output format with alpha: .png, .tif, .webp)
  16-bit           reduced to 8 bits (round(v / 257)) -- the models are 8-bit -- and saved as 8-bit;
                   a notice says so
  palette          expanded to RGB (or RGBA if it has transparency)
  anything else    refused with the reason (float images, unreadable or truncated files)

An input is never overwritten: an output path that resolves to an input file is refused. Files are
written atomically (temporary file + rename), so an output that exists is complete.
A single file: an existing output is refused unless --overwrite is given.
A folder input gives <OUT>/<name>.png for each image in it (not recursive). Outputs that already exist
are skipped (a rerun resumes; --overwrite redoes them); a file that fails is reported with the reason and
the run goes on; a summary ends the run, and the exit status is 2 if any file failed.

Large images: --tile auto (the default) runs the whole image at once up to 2 megapixels of output
(AUTO_MAX_PIXELS in srlib/inference.py) and overlapping LR tiles above that, so memory stays bounded
(MLRN's non-local attention then sees one tile at a time: docs/models.md). --tile N: N x N LR tiles;
--tile none: the whole image however large. Out of memory on a GPU: a smaller --tile, or --device cpu.
Exit status: 0 done, 2 refused or failed (one line "srlib upscale: error: ..."; --debug for a traceback).

examples:
  srlib upscale photo.jpg photo_x2.png --weights results/quick/runs/mlrn-x2    # a run folder
  srlib upscale photo.jpg photo_x2.png --weights results/quick/runs/mlrn-x2/mlrn_x2.pt
  srlib upscale photos/ photos_x4/ --weights results/quick/runs/mlrn-x4 --device cuda
  srlib upscale photo.jpg photo_x3.png --scale 3 --released vdsr   # after `srlib weights prepare vdsr`
  srlib upscale photo.png photo_x3.png --scale 3 --model bicubic
  srlib upscale in.png out.png       # without --weights: lists the trained weights found in results/
"""


class UpscaleError(SrlibError, ValueError):
    """A request `srlib upscale` refuses; the message says why and what to do."""


# What makes one file of a folder run fail without stopping the others: unreadable or unsuitable images
# (ImageError, UpscaleError are ValueErrors), file system errors, running out of memory on a huge image.
FILE_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, MemoryError, RuntimeError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("input", metavar="IN", help="an image file or a folder of images")
    parser.add_argument(
        "output",
        metavar="OUT",
        help="output file (its suffix picks the format: .png .jpg .bmp .tif .webp) or folder",
    )
    parser.add_argument(
        "--scale",
        type=int,
        choices=SCALES,
        default=None,
        help="upscaling factor (default: the scale in the weights' model card; required for --model bicubic)",
    )
    parser.add_argument(
        "--weights",
        default=None,
        metavar="W.pt",
        help="trained weights (<name>.pt with its model card <name>.json beside it)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="without --weights: 'bicubic' (MATLAB bicubic, no learned weights); with --weights: "
        "the expected model name (checked against the card)",
    )
    add_released_arguments(parser, extra="; needs --scale")
    add_runtime_arguments(parser)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing output files (never an input file)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _inputs(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UpscaleError(f"{path} contains no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if path.is_file():
        return [path]
    raise UpscaleError(f"input {path} does not exist")


def plan_outputs(inp: Path, out: Path, out_is_dir: bool = False) -> list[tuple[Path, Path]]:
    """(input, output) pairs; refuses any output that resolves to an input and ambiguous names.
    `out_is_dir`: OUT was given with a trailing slash (a folder, even if it does not exist yet)."""
    files = _inputs(inp)
    if inp.is_dir():
        if out.exists() and not out.is_dir():
            raise UpscaleError(f"IN is a folder, so OUT must be a folder; {out} is a file")
        pairs = [(f, out / f"{f.stem}.png") for f in files]
    elif out.is_dir() or out_is_dir:
        pairs = [(files[0], out / f"{files[0].stem}.png")]
    else:
        if out.suffix.lower() not in OUTPUT_FORMATS:
            raise UpscaleError(
                f"cannot tell the output format from {out.name!r}; use one of {', '.join(OUTPUT_FORMATS)}"
            )
        pairs = [(files[0], out)]
    resolved_inputs = {f.resolve() for f in files}
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        r = dst.resolve()
        if r in resolved_inputs or (dst.exists() and any(dst.samefile(f) for f in files)):
            raise UpscaleError(
                f"refusing to write {dst}: it is an input file ({src if r == src.resolve() else r}); "
                "choose another output path"
            )
        if r in seen:
            raise UpscaleError(f"{seen[r].name} and {src.name} would both be written to {dst}; rename one")
        seen[r] = src
    return pairs


def _source_info(path: Path) -> tuple[bool, bool]:
    """(grayscale, more than 8 bits per sample) of an image file, from its header."""
    from PIL import Image

    with Image.open(path) as im:
        mode = im.mode
        gray = mode in ("1", "L", "LA", "La", "I", "F") or mode.startswith("I;16")
        if mode == "P":
            gray = False
        deep = mode == "I" or mode.startswith("I;16")
        if im.format == "PNG":
            with open(path, "rb") as fh:
                header = fh.read(26)
            if len(header) >= 26 and header[12:16] == b"IHDR":
                deep = deep or header[24] == 16
    return gray, deep


def upscale_file(model, src: Path, dst: Path, device, tile, self_ensemble: bool) -> list[str]:
    """Super-resolve one file into `dst` (atomic write); returns notices for the user."""
    import numpy as np
    from PIL import Image

    from srlib.core.atomic import atomic_path
    from srlib.core.imresize import imresize
    from srlib.data.images import load_image_with_alpha
    from srlib.inference import super_resolve

    fmt, holds_alpha = OUTPUT_FORMATS[dst.suffix.lower()]
    notes = []
    rgb, alpha = load_image_with_alpha(src)  # refuses unreadable files with an ImageError naming them
    if not rgb.flags.writeable:
        rgb = rgb.copy()
    gray, deep = _source_info(src)
    if alpha is not None and int(alpha.min()) == 255:
        alpha = None  # fully opaque: nothing to keep
    if alpha is not None and not holds_alpha:
        raise UpscaleError(
            f"{src} has transparency but {dst.suffix} cannot store an alpha channel; "
            "write .png, .tif or .webp instead"
        )
    if deep:
        notes.append(f"{src.name}: 16-bit samples reduced to 8 bits (round(v/257)); output is 8-bit")
    sr = super_resolve(model, rgb, device=device, tile=tile, self_ensemble=self_ensemble).image
    out = Image.fromarray(sr, "RGB")
    if gray:
        out = out.convert("L")
    if alpha is not None:
        a = imresize(alpha.astype(np.float64), output_shape=sr.shape[:2])
        a_img = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L")
        out = Image.merge("LA", (out, a_img)) if gray else Image.merge("RGBA", (*out.split(), a_img))
    if fmt == "WEBP":
        extra = {"lossless": True}
    elif fmt == "JPEG":
        extra = {"quality": 95}
    else:
        extra = {}
    with atomic_path(dst) as tmp:
        out.save(tmp, format=fmt, **extra)
    return notes


def run(args: argparse.Namespace) -> int:
    """Refusals raise (srlib.cli prints them as one line, exit 2); a folder run reports each bad file, goes
    on, and fails at the end if any did."""
    from srlib.core.device import resolve_device
    from srlib.inference import parse_tile

    _check_model_args(args)
    inp = Path(args.input)
    pairs = plan_outputs(inp, Path(args.output), args.output.endswith(("/", "\\")))
    folder = inp.is_dir()
    if not folder and not args.overwrite and pairs[0][1].exists():
        raise UpscaleError(f"output file {pairs[0][1]} exists; pass --overwrite to replace it")
    todo = pairs if args.overwrite else [(src, dst) for src, dst in pairs if not dst.exists()]
    tile = parse_tile(args.tile)  # a ValueError: one line from srlib.cli
    device = resolve_device(args.device)
    model, scale = _load(args, device, build=bool(todo))  # a rerun with nothing left checks, builds nothing
    failed: list[Path] = []
    for i, (src, dst) in enumerate(todo, 1):
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            notes = upscale_file(model, src, dst, device, tile, args.self_ensemble)
        except FILE_ERRORS as exc:
            if not folder:
                raise
            failed.append(src)
            reason = _reason(exc)
            print(
                f"srlib upscale: failed: {reason if str(src) in reason else f'{src}: {reason}'}",
                file=sys.stderr,
            )
            continue
        if not args.quiet:
            print(f"[{i}/{len(todo)}] {src} -> {dst} (x{scale})")
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    if folder:
        _summary(len(pairs), len(todo), failed, args.quiet)
    return 0


def _check_model_args(args: argparse.Namespace) -> None:
    """Exactly one source of the model: --weights, --released NAME --scale S, or --model bicubic --scale S."""
    released = getattr(args, "released", None)
    if args.weights is not None and released is not None:
        raise UpscaleError("give --weights or --released, not both")
    if released is not None:
        if args.scale is None:
            raise UpscaleError(f"--released {released} needs --scale (2, 3 or 4)")
    elif args.weights is None:
        if (args.model or "").lower() != "bicubic":
            raise UpscaleError(no_weights_message(args.scale))
        if args.scale is None:
            raise UpscaleError("--model bicubic needs --scale")


def _load(args: argparse.Namespace, device: torch.device, build: bool = True) -> tuple[nn.Module | None, int]:
    from srlib.models import build_model
    from srlib.weights import load_model, read_card

    released = getattr(args, "released", None)
    if released is not None:
        from srlib.released import load_released

        if not build:
            return None, args.scale
        weights_dir = getattr(args, "weights_dir", None)
        return load_released(released, args.scale, weights_dir, device=device), args.scale
    if args.weights is None:
        return (build_model("bicubic", args.scale).to(device) if build else None), args.scale
    card = read_card(args.weights)  # a mistyped path fails here, even when there is nothing left to do
    scale = args.scale if args.scale is not None else int(card["scale"])
    if not build:
        return None, scale
    return load_model(args.weights, model=args.model, scale=scale, device=device), scale


def _reason(exc: BaseException) -> str:
    from srlib.core.errors import one_line

    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return "out of memory; try a smaller --tile (e.g. --tile 128) or --device cpu"
    return (one_line(exc).splitlines() or [""])[0]


def _summary(planned: int, ran: int, failed: list[Path], quiet: bool) -> None:
    """The end of a folder run: what was written, skipped and failed; raises if anything failed."""
    skipped = planned - ran
    line = f"{ran - len(failed)} written, {skipped} skipped (output exists; --overwrite redoes them), "
    line += f"{len(failed)} failed"
    if failed:
        names = ", ".join(p.name for p in failed[:5]) + (" ..." if len(failed) > 5 else "")
        raise UpscaleError(f"{len(failed)} of {planned} images failed ({names}); {line}")
    if not quiet:
        print(line)


def no_weights_message(scale: int | None) -> str:
    """What to give instead of nothing: the trained weights found in the results folder, and bicubic."""
    from srlib.core import paths
    from srlib.weights import find_trained

    root = paths.results_dir()
    found = [(pt, card) for pt, card in find_trained(root) if scale is None or int(card["scale"]) == scale]
    lines = [
        "no --weights: give trained weights (a <name>.pt or its run folder), --released NAME --scale S (the "
        "authors' SRCNN, VDSR or LapSRN; `srlib models`) or --model bicubic --scale S"
    ]
    if not found:
        lines.append(f"no trained weights under {root}/<profile>/runs/ yet (`srlib train`, `make replicate`)")
        return "\n".join(lines)
    budget = (
        " (profile quick: a CPU budget, below the paper)"
        if any(c.get("profile") == "quick" for _, c in found)
        else ""
    )
    lines.append(f"trained weights under {_shown(root)}{budget}:")
    width = max(len(_shown(pt.parent)) for pt, _ in found)
    for pt, card in found:
        metrics = card.get("final_metrics") or {}
        psnr = f", {metrics['val_set']} {metrics['psnr']:.2f} dB" if metrics.get("psnr") else ""
        label = variant_label(card["model"], card.get("options"))
        about = f"{label} x{card['scale']}, profile {card.get('profile')}{psnr}"
        lines.append(f"  {_shown(pt.parent):<{width}}  {about}")
    example = next(
        (pt for pt, c in found if variant_label(c["model"], c.get("options")) == "mlrn"), found[0][0]
    )
    lines.append(f"e.g.: srlib upscale IN OUT --weights {_shown(example.parent)}")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it lies below it (shorter to copy)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
