"""`srlib evaluate`: score a model on the benchmark sets (PSNR/SSIM on Y, docs/protocol.md).

Writes one CSV row per image (`--out`) and the set means beside it (`<out stem>_means.csv`), prints the means
and, for a model of the paper's Table 2, the paper's values and the differences.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from srlib.core.errors import UsageError
from srlib.core.paper import SCALES, TEST_SETS, variant_label

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
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if available, else CPU), cpu, cuda, cuda:N or mps"
    )
    parser.add_argument("--name", help="label for the model in the output (default: the model name)")
    parser.add_argument("--self-ensemble", action="store_true", help="x8 geometric self-ensemble")
    parser.add_argument("--save-dir", help="also save every SR image as DIR/<set>/x<scale>/<image>.png")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--weights",
        "--checkpoint",
        nargs="+",
        metavar="W.pt",
        help="trained weights (<name>.pt with its model card <name>.json, as written by `srlib train`), one "
        "per scale; replaces --model, and --scales defaults to the scales of the given weights",
    )


def model_spec(args: argparse.Namespace) -> tuple[Any, str]:
    """What to evaluate: (registry name or callable scale -> nn.Module, label for the rows)."""
    if getattr(args, "weights", None):
        return weights_spec(args)
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
    return Path.cwd() / DEFAULT_OUT_DIR / ("-".join(parts) + ".csv")


def run(args: argparse.Namespace) -> int:
    from srlib.core.device import resolve_device
    from srlib.core.metrics import PROTOCOL
    from srlib.core.paper import TABLE2_MODELS
    from srlib.evaluation import evaluate, means_path, set_means
    from srlib.reports.compare import compare_with_paper
    from srlib.reports.markdown import to_markdown

    args.device = str(resolve_device(args.device))  # an unavailable device fails before any work
    model, label = model_spec(args)
    out = Path(args.out) if args.out else default_out(args, label)
    rows = evaluate(
        model,
        args.scales,
        args.sets,
        data_dir=args.data_dir,
        out_csv=out,
        device=args.device,
        progress=not args.no_progress,
        self_ensemble=args.self_ensemble,
        save_dir=args.save_dir,
        name=label,
    )
    means = set_means(rows)
    print(f"Protocol: {PROTOCOL}\n")
    if isinstance(model, str) and model.lower() in TABLE2_MODELS:
        print(to_markdown(compare_with_paper(means, paper_model=model)))
    else:
        print(to_markdown(means))
    print(f"per-image rows: {out}\nset means:      {means_path(out)}")
    return 0
