"""`srlib upscale`: super-resolve your own images (a file or a folder) with trained weights, the authors'
released weights (`--released srcnn|srcnn-915|vdsr|lapsrn`) or bicubic."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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

An input is never overwritten: an output path that resolves to an input file is refused, as is an
existing output file unless --overwrite is given. Files are written atomically (temporary file + rename).
A folder input gives <OUT>/<name>.png for each image in it (not recursive).

examples:
  srlib upscale photo.jpg photo_x2.png --scale 2 --weights runs/quick/mlrn_x2/mlrn_x2.pt
  srlib upscale photos/ photos_x4/ --weights runs/paper/mlrn_x4/mlrn_x4.pt
  srlib upscale photo.jpg photo_x3.png --scale 3 --released vdsr   # after `srlib weights prepare vdsr`
  srlib upscale photo.png photo_x3.png --scale 3 --model bicubic
"""


class UpscaleError(ValueError):
    """A request `srlib upscale` refuses; the message says why and what to do."""


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
        choices=(2, 3, 4),
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
        "--released",
        default=None,
        metavar="NAME",
        help="the authors' released weights: srcnn, srcnn-915, vdsr, lapsrn (needs --scale; fetch them with "
        "`srlib weights prepare`)",
    )
    parser.add_argument("--weights-dir", metavar="DIR", help="released weights folder ($SRLIB_WEIGHTS)")
    parser.add_argument(
        "--model",
        default=None,
        help="without --weights: 'bicubic' (MATLAB bicubic, no learned weights); with --weights: "
        "the expected model name (checked against the card)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--tile",
        default="auto",
        help="LR tile size in pixels for large images, 'auto' (tiles only above a size "
        "threshold) or 'none' (whole image) (default: auto)",
    )
    parser.add_argument(
        "--self-ensemble",
        action="store_true",
        help="average the 8 flips/rotations (x8 slower, slightly better)",
    )
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
    try:
        return _run(args)
    except (UpscaleError, ValueError) as exc:  # WeightsError and ImageError are ValueErrors
        print(f"srlib upscale: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import torch

    from srlib.models import build_model
    from srlib.weights import load_model, read_card

    released = getattr(args, "released", None)
    if args.weights is not None and released is not None:
        raise UpscaleError("give --weights or --released, not both")
    if released is not None:
        if args.scale is None:
            raise UpscaleError(f"--released {released} needs --scale (2, 3 or 4)")
    elif args.weights is None:
        if (args.model or "").lower() != "bicubic":
            raise UpscaleError(
                "give --weights W.pt (trained weights), --released NAME (the authors' weights), or --model "
                "bicubic for plain bicubic"
            )
        if args.scale is None:
            raise UpscaleError("--model bicubic needs --scale")
    pairs = plan_outputs(Path(args.input), Path(args.output), args.output.endswith(("/", "\\")))
    if not args.overwrite:
        existing = [str(dst) for _, dst in pairs if dst.exists()]
        if existing:
            raise UpscaleError(
                f"output file(s) exist: {', '.join(existing[:3])}"
                f"{' ...' if len(existing) > 3 else ''}; pass --overwrite to replace them"
            )
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if released is not None:
        from srlib.released import load_released

        scale = args.scale
        model = load_released(released, scale, getattr(args, "weights_dir", None), device=device)
    elif args.weights is not None:
        scale = args.scale if args.scale is not None else int(read_card(args.weights)["scale"])
        model = load_model(args.weights, model=args.model, scale=scale, device=device)
    else:
        scale = args.scale
        model = build_model("bicubic", scale).to(device)
    tile = None if str(args.tile).lower() == "none" else ("auto" if args.tile == "auto" else int(args.tile))
    for i, (src, dst) in enumerate(pairs, 1):
        dst.parent.mkdir(parents=True, exist_ok=True)
        notes = upscale_file(model, src, dst, device, tile, args.self_ensemble)
        if not args.quiet:
            print(f"[{i}/{len(pairs)}] {src} -> {dst} (x{scale})")
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    return 0
