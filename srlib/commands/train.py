"""`srlib train`: train one model at one scale with a profile (see docs/training.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from srlib.core.paper import SCALES

EPILOG = """\
examples:
  srlib train --model mlrn --scale 2 --profile quick       # into results/quick/runs/mlrn-x2 (the Runs layout)
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
    _add_run_arguments(parser)
    _add_place_arguments(parser)


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What is trained: the model, the scale, the profile and overrides of its config."""
    parser.add_argument(
        "--model",
        required=True,
        help="model name: mlrn, srcnn, vdsr, lapsrn, memnet (`srlib models` lists them)",
    )
    parser.add_argument("--scale", required=True, type=int, choices=SCALES, help="upscaling factor")
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


def _add_place_arguments(parser: argparse.ArgumentParser) -> None:
    """Where it is trained: output and data folders, resuming, the device, progress and --show-config."""
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output directory for checkpoints, log, weights and model card "
        "(default: the run folder <results>/<profile>/runs/<run id>, as srlib replicate lays it out)",
    )
    parser.add_argument(
        "--results",
        default="",
        metavar="DIR",
        help="results folder of this profile, used when --out is not given "
        "(default: <results>/<profile>, <results> = $SRLIB_RESULTS or the checkout's results/)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in the output directory (refused if the config differs; "
        "a finished run is not retrained; an empty --out starts afresh)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="data directory with the training/validation sets (default: $SRLIB_DATA or data/)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="auto (CUDA if available, else CPU), cpu, cuda, cuda:N or mps; same as --set runtime.device=... "
        "(not part of the config hash, so a run may resume elsewhere)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--show-config",
        action="store_true",
        help="print the resolved run config (all --set keys) and its hash, then exit",
    )


def default_out_dir(args: argparse.Namespace, overrides: dict[str, Any]) -> Path:
    """The run folder of the Runs layout (`<results>/<profile>/runs/<run id>`); ablation switches in
    `--set model_options.<flag>=false` name a Table 1 variant's folder."""
    from srlib.pipeline.runs import Runs, RunSpec

    return Runs(args.profile, args.results).run_dir(RunSpec.from_overrides(args.model, args.scale, overrides))


def run(args: argparse.Namespace) -> int:
    from srlib.train import train
    from srlib.train.config import config_hash, parse_overrides, resolve_config

    # ConfigError, TrainingDiverged, DataNotPreparedError, DeviceError: one line from srlib.cli
    device = [f"runtime.device={args.device}"] if args.device else []
    overrides = parse_overrides([*args.overrides, *device])
    if args.show_config:
        config = resolve_config(args.model, args.scale, args.profile, overrides)
        print(json.dumps({"config_hash": config_hash(config), "config": config}, indent=2))
        return 0
    summary = train(
        args.model,
        args.scale,
        args.profile,
        overrides,
        args.out or default_out_dir(args, overrides),
        args.resume,
        data_dir=args.data_dir,
        progress=False if args.no_progress else None,
    )
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
    from srlib.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])
