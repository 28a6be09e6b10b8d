"""`srlib models [--table OUT_DIR]`: list the models and their options, or write the complexity table."""

from __future__ import annotations

import argparse

from srlib.core.errors import UsageError
from srlib.core.paper import SCALES

EPILOG = """\
Without --table: every registered model with its build options and their defaults (the published sizes),
then the authors' released weights (`--released NAME` of `srlib evaluate` / `srlib upscale`): their scales,
whether they are in the weights folder (fetch them with `srlib weights prepare`) and their source.
With --table OUT_DIR: OUT_DIR/models.csv and OUT_DIR/models.md with parameters and multiply-adds (MACs) of
every model and of MLRN's four Table 1 variants for a 1280x720 output (--output-size) at each scale,
counted with torch.utils.flop_counter on fake tensors (nothing is computed; about a minute on a 2-core CPU).

examples:
  srlib models
  srlib models --table results
  srlib models --table /tmp/t --scales 2 --set memnet.channels=32
  srlib models --table /tmp/quick --profile quick
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--table", metavar="OUT_DIR", help="write models.csv and models.md into OUT_DIR")
    parser.add_argument("--weights-dir", metavar="DIR", help="released weights folder ($SRLIB_WEIGHTS)")
    parser.add_argument(
        "--scales",
        nargs="+",
        type=int,
        default=list(SCALES),
        metavar="S",
        help=f"scales (default: {' '.join(map(str, SCALES))})",
    )
    parser.add_argument(
        "--output-size",
        nargs=2,
        type=int,
        default=[1280, 720],
        metavar=("W", "H"),
        help="output size the MACs are counted for (default: 1280 720)",
    )
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="count the model sizes of a training profile (e.g. quick; its models.<name>.options) instead of "
        "the published ones",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL.OPTION=VALUE",
        help="override a model option for the table (value parsed as JSON, else a string); repeatable",
    )


def _parse_overrides(items: list[str]) -> dict[str, dict[str, object]]:
    import json

    options: dict[str, dict[str, object]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        model, dot, option = key.partition(".")
        if not sep or not dot or not model or not option:
            raise UsageError(f"--set expects MODEL.OPTION=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(model.lower(), {})[option] = value
    return options


def run(args: argparse.Namespace) -> int:
    from srlib.models import model_names, model_options

    if args.table is None:
        for name in model_names():
            try:
                options = model_options(name)
            except ImportError as exc:  # a model module that is not importable here
                print(f"{name}: unavailable ({exc})")
                continue
            listed = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "(no options)"
            print(f"{name}: {listed}")
        _print_released(args.weights_dir)
        return 0

    from srlib.reports.models_table import write_models_table

    try:
        csv_path, md_path = write_models_table(
            args.table,
            profile=args.profile,
            scales=tuple(args.scales),
            out_hw=(args.output_size[1], args.output_size[0]),
            options=_parse_overrides(args.set),
        )
    except ValueError as exc:
        raise UsageError(f"{exc} (in --set/--profile)") from exc
    print(f"wrote {csv_path}")
    print(f"wrote {md_path}")
    return 0


def _print_released(weights_dir: str | None) -> None:
    from srlib.commands.weights import status_lines
    from srlib.core import paths

    root = weights_dir or str(paths.weights_dir())
    print(f"\nreleased weights (--released NAME; folder {root}; fetch: srlib weights prepare NAME):")
    print("\n".join(status_lines(root)))
