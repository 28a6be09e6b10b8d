"""`srlib models [--table OUT_DIR]`: list the models and their options, or write the complexity table."""

from __future__ import annotations

import argparse

EPILOG = """\
Without --table: every registered model with its build options and their defaults (the published sizes).
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
    parser.add_argument(
        "--scales", nargs="+", type=int, default=[2, 3, 4], metavar="S", help="scales (default: 2 3 4)"
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
            raise SystemExit(f"srlib models: --set expects MODEL.OPTION=VALUE, got {item!r}")
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
        return 0

    from srlib.models.complexity import write_table

    options: dict[str, dict[str, object]] = {}
    caption = None
    if args.profile:
        from srlib.train.config import load_profile

        profile = load_profile(args.profile)
        for name, entry in (profile.get("models") or {}).items():
            options[name.lower()] = dict(entry.get("options") or {})
        caption = f"Model sizes of the training profile `{profile.get('name', args.profile)}`."
    for name, values in _parse_overrides(args.set).items():
        options.setdefault(name, {}).update(values)
    unknown = sorted(set(options) - set(model_names()))
    if unknown:
        raise SystemExit(f"srlib models: unknown model(s) in --set/--profile: {', '.join(unknown)}")
    out_hw = (args.output_size[1], args.output_size[0])
    csv_path, md_path = write_table(
        args.table, scales=tuple(args.scales), out_hw=out_hw, options=options, caption=caption
    )
    print(f"wrote {csv_path}")
    print(f"wrote {md_path}")
    return 0
