"""`srlib evaluate`: score a model on the benchmark sets (PSNR/SSIM on Y, docs/protocol.md).

The model is a registry name (`--model`, e.g. bicubic), trained weights (`--weights`) or the authors'
released weights (`--released srcnn|srcnn-915|vdsr|lapsrn`, fetched by `srlib weights prepare`); the
protocol is `standard` (default) or `authors` (`--protocol`, SRCNN/VDSR/LapSRN's own test conventions).
Writes one CSV row per image (`--out`) and the set means beside it (`<out stem>_means.csv`), prints the means
and, for a model of the paper's Table 2, the paper's values and the differences.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srlib.commands.options import add_released_arguments, add_runtime_arguments
from srlib.core.errors import UsageError
from srlib.core.paper import SCALES, TEST_SETS, variant_label
from srlib.core.protocol import PROTOCOLS

DEFAULT_OUT_DIR = "srlib-eval"  # relative to the working directory


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="bicubic", help="registry name of the model (default: bicubic; see `srlib models`)"
    )
    parser.add_argument(
        "--scales",
        type=int,
        nargs="+",
        metavar="S",
        help=f"upscaling factors (default: {' '.join(map(str, SCALES))}, or those of --weights)",
    )
    parser.add_argument(
        "--sets",
        nargs="+",
        default=list(TEST_SETS),
        metavar="SET",
        help=f"test sets (default: {' '.join(TEST_SETS)}; prepare them with `srlib data prepare`)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE.csv",
        help="per-image CSV to write; means go to FILE_means.csv (default: ./srlib-eval/<run id>.csv in the "
        "working directory, e.g. srlib-eval/mlrn-nl-quick-x2.csv; never the checkout's committed results)",
    )
    parser.add_argument(
        "--data-dir", help="data directory holding <Set>/<file> (default: $SRLIB_DATA or data/)"
    )
    parser.add_argument("--name", help="label for the model in the output (default: the model name)")
    parser.add_argument("--save-dir", help="also save every SR image as DIR/<set>/x<scale>/<image>.png")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_model_arguments(parser)
    add_runtime_arguments(parser)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """What to evaluate besides --model: trained or released weights, and under which protocol."""
    parser.add_argument(
        "--weights",
        "--checkpoint",
        nargs="+",
        metavar="W.pt",
        help="trained weights (<name>.pt with its model card <name>.json, as written by `srlib train`), one "
        "per scale; replaces --model, and --scales defaults to the scales of the given weights",
    )
    add_released_arguments(parser)
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="standard",
        help="standard (default: srlib's, reproduces the Bicubic row) or authors (the released test code's "
        "conventions of SRCNN, VDSR, LapSRN; docs/protocol.md)",
    )


def model_spec(args: argparse.Namespace) -> tuple[Any, str]:
    """What to evaluate: (registry name or callable scale -> nn.Module, label for the rows)."""
    if getattr(args, "weights", None) and getattr(args, "released", None):
        raise UsageError("give --weights or --released, not both")
    if getattr(args, "weights", None):
        return weights_spec(args)
    if getattr(args, "released", None):
        return released_spec(args)
    if args.scales is None:
        args.scales = list(SCALES)
    return args.model, args.name or args.model.lower()


def weights_spec(args: argparse.Namespace) -> tuple[Any, str]:
    """--weights: a callable scale -> model loaded with srlib.weights.load_model (card checked per scale)."""
    from srlib.core.device import resolve_device
    from srlib.weights import load_model, read_card

    by_scale: dict[int, str] = {}
    names = set()
    for path in args.weights:
        card = read_card(path)
        scale = int(card["scale"])
        if scale in by_scale:
            raise UsageError(f"two weights for x{scale}: {by_scale[scale]}, {path}")
        by_scale[scale] = path
        names.add(variant_label(card["model"], card.get("options")))  # mlrn-nl: a Table 1 variant
    if len(names) > 1:
        raise UsageError(f"--weights mixes models {sorted(names)}; give one model's weights")
    if args.scales is None:
        args.scales = sorted(by_scale)
    missing = [s for s in args.scales if s not in by_scale]
    if missing:
        raise UsageError(f"no --weights for scale(s) {missing}; given: {sorted(by_scale)}")

    def load(scale: int) -> Any:
        return load_model(by_scale[scale], scale=scale, device=resolve_device(args.device))

    return load, args.name or names.pop()


def released_spec(args: argparse.Namespace) -> tuple[Any, str]:
    """--released NAME: a callable scale -> the authors' weights in srlib's class (hash-checked per load)."""
    from srlib.core.device import resolve_device
    from srlib.released import release

    rel = release(args.released)  # an unknown name is a ValueError: one line from srlib.cli
    if args.scales is None:
        args.scales = list(rel.scales)
    missing = [s for s in args.scales if s not in rel.scales]
    if missing:
        raise UsageError(f"released {rel.name} has no x{missing[0]} model; scales: {list(rel.scales)}")

    def load(scale: int) -> Any:
        from srlib.released import load_released

        return load_released(rel.name, scale, args.weights_dir, device=resolve_device(args.device))

    return load, args.name or f"released-{rel.name}"


def _paper_model(args: argparse.Namespace, model: Any) -> str | None:
    """The Table 2 row the means are compared with: the registry model, or the released model's row."""
    from srlib.core.paper import TABLE2_MODELS

    if getattr(args, "released", None):
        from srlib.released import release

        return release(args.released).paper_model
    if isinstance(model, str) and model.lower() in TABLE2_MODELS:
        return model.lower()
    return None


def default_out(args: argparse.Namespace, label: str) -> Path:
    """./srlib-eval/<run id>.csv: the id holds what changes the numbers (model and variant, the weights'
    training profile, scales, sets when not all four, self-ensemble), so evaluations do not share a file."""
    parts = [label]
    if getattr(args, "weights", None):
        from srlib.weights import read_card

        parts += sorted({str(read_card(w).get("profile") or "trained") for w in args.weights})
    parts += [f"x{s}" for s in args.scales]
    if [s.lower() for s in args.sets] != [s.lower() for s in TEST_SETS]:
        parts += [s.lower() for s in args.sets]
    if args.self_ensemble:
        parts.append("x8ensemble")
    if getattr(args, "protocol", "standard") != "standard":
        parts.append(args.protocol)
    return Path.cwd() / DEFAULT_OUT_DIR / ("-".join(parts) + ".csv")


def run(args: argparse.Namespace) -> int:
    from srlib.core.device import resolve_device
    from srlib.evaluation import evaluate, means_path, model_conventions, set_means
    from srlib.inference import parse_tile
    from srlib.reports.compare import compare_with_paper
    from srlib.reports.markdown import to_markdown

    args.device = str(resolve_device(args.device))  # an unavailable device fails before any work
    model, label = model_spec(args)
    tile = parse_tile(getattr(args, "tile", "auto"))
    protocol = getattr(args, "protocol", "standard")
    out = Path(args.out) if args.out else default_out(args, label)
    # ReleasedWeightsError, an `authors` protocol the model lacks, bad sets: ValueErrors (one line, srlib.cli)
    conv = model_conventions(protocol, _built(model, args.scales[0]))  # before any data is read
    rows = evaluate(
        model, args.scales, args.sets, data_dir=args.data_dir, out_csv=out, device=args.device,
        progress=not args.no_progress, self_ensemble=args.self_ensemble, save_dir=args.save_dir,
        name=label, protocol=protocol, tile=tile,
    )  # fmt: skip
    means = set_means(rows)
    print(f"Protocol: {protocol} -- {conv.summary}\n")
    paper_model = _paper_model(args, model)
    if paper_model is not None:
        print(to_markdown(compare_with_paper(means, paper_model=paper_model)))
    else:
        print(to_markdown(means))
    print(f"per-image rows: {out}\nset means:      {means_path(out)}")
    return 0


def _built(model: Any, scale: int) -> Any:
    """A model instance to name the protocol's conventions by (built cheaply for a registry name)."""
    if isinstance(model, str):
        from srlib.models import build_model

        return build_model(model, scale)
    return model(scale)
