"""The `srlib` command. Each subcommand lives in `srlib/commands/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`; command modules import torch & co. inside `run` so that
`srlib --help` stays fast."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, str] = {
    "data": "Prepare and verify the benchmark and training sets (mirror or pinned download).",
    "evaluate": "Evaluate a model (bicubic or a checkpoint) on the test sets; writes per-image CSV.",
    "train": "Train a model at one scale with a profile (smoke, quick, paper).",
    "upscale": "Super-resolve your own images with trained weights.",
    "models": "List models and their parameter / multiply-add counts.",
    "replicate": "Run the notebook pipeline (papermill) that regenerates Table 1, Table 2 and figures.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srlib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"srlib.commands.{name}")
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
