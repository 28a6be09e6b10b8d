"""`srlib train`: train one model at one scale with a profile (see docs/training.md)."""

from __future__ import annotations

import argparse
import json
import sys

EPILOG = """\
examples:
  srlib train --model mlrn --scale 2 --profile quick --out runs/mlrn_x2
  srlib train --model mlrn --scale 2 --profile quick --out runs/mlrn_x2 --resume
  srlib train --model vdsr --scale 3 --profile smoke --set iterations=20 --set optimizer.lr=2e-4 --out /tmp/v
  srlib train --model mlrn --scale 2 --profile quick --set model_options.non_local=false --show-config
  torchrun --nproc_per_node 4 -m srlib.cli train --model mlrn --scale 2 --profile paper --out DIR

Keys for --set are the run config's dotted keys (print them with --show-config); values are JSON
(numbers, true/false/null, lists, "strings"), anything else is taken as a plain string.
Under torchrun, batch_size is the GLOBAL batch (split evenly over the processes; recorded in the model card).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "--model",
        required=True,
        help="model name: mlrn, srcnn, vdsr, lapsrn, memnet (`srlib models` lists them)",
    )
    parser.add_argument("--scale", required=True, type=int, choices=(2, 3, 4), help="upscaling factor")
    parser.add_argument(
        "--profile",
        default="smoke",
        help="smoke (seconds, tests), quick (CPU, minutes), paper (the paper's recipe, GPU, "
        "days), paper-amp (paper with bf16 autocast and channels_last), or a path to a profile JSON "
        "file (default: smoke)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one run-config value, e.g. --set iterations=500 --set optimizer.lr=2e-4 "
        "--set model_options.channels=16 (repeatable)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output directory for checkpoints, log, weights and model card "
        "(default: runs/<profile>/<model>_x<scale> in the checkout)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in --out (refused if the config differs; "
        "a finished run is not retrained; an empty --out starts afresh)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="data directory with the training/validation sets (default: $SRLIB_DATA or data/)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--show-config",
        action="store_true",
        help="print the resolved run config (all --set keys) and its hash, then exit",
    )


def run(args: argparse.Namespace) -> int:
    from srlib.train import TrainingDiverged, train
    from srlib.train.config import ConfigError, config_hash, parse_overrides, resolve_config

    try:
        overrides = parse_overrides(args.overrides)
        if args.show_config:
            config = resolve_config(args.model, args.scale, args.profile, overrides)
            print(json.dumps({"config_hash": config_hash(config), "config": config}, indent=2))
            return 0
        summary = train(
            args.model,
            args.scale,
            args.profile,
            overrides,
            args.out,
            args.resume,
            data_dir=args.data_dir,
            progress=False if args.no_progress else None,
        )
    except (ConfigError, TrainingDiverged, FileNotFoundError) as exc:  # data missing: prepare's hint
        print(f"srlib train: error: {exc}", file=sys.stderr)
        return 2
    from srlib.train.distributed import env_info

    if env_info().is_main:
        metrics = ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.final_metrics.items()
        )
        print(
            f"weights: {summary.weights}\ncard:    {summary.card}\nlog:     {summary.log_csv}\n"
            f"metrics: {metrics}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srlib train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
