"""Options that `srlib evaluate` and `srlib upscale` share: which released weights, where they are, and how
the network runs (device, tiling, self-ensemble). One definition, so the two commands cannot drift apart."""

from __future__ import annotations

import argparse

RELEASED_HELP = (
    "the authors' released weights instead of --model: srcnn (9-5-5), srcnn-915, vdsr, lapsrn (fetch them "
    "with `srlib weights prepare`; `srlib models` lists them)"
)


def add_released_arguments(parser: argparse.ArgumentParser, *, extra: str = "") -> None:
    """--released NAME and --weights-dir DIR; `extra` is appended to --released's help."""
    parser.add_argument("--released", default=None, metavar="NAME", help=RELEASED_HELP + extra)
    parser.add_argument(
        "--weights-dir", metavar="DIR", help="released weights folder (default: $SRLIB_WEIGHTS)"
    )


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """--device, --tile and --self-ensemble, as `srlib.inference.super_resolve` takes them."""
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if available, else CPU), cpu, cuda, cuda:N or mps"
    )
    parser.add_argument(
        "--tile",
        default="auto",
        help="LR tile size in pixels for large images, 'auto' (tiles only above a size threshold) or 'none' "
        "(whole image) (default: auto)",
    )
    parser.add_argument(
        "--self-ensemble",
        action="store_true",
        help="average the 8 flips/rotations (x8 geometric self-ensemble: x8 slower, slightly better)",
    )
