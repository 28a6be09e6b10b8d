"""The `srlib` command. Each subcommand lives in `srlib/commands/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`. Only the module of the command being run is imported, so
`srlib --help` stays fast and one command's heavy imports never break another."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, str] = {
    "data": "Prepare and verify the benchmark and training sets (mirror or pinned download).",
    "weights": "Prepare and verify the authors' released SRCNN, VDSR and LapSRN weights.",
    "evaluate": "Evaluate a model (bicubic, trained or released weights) on the test sets; per-image CSV.",
    "train": "Train a model at one scale with a profile (smoke, quick, paper).",
    "upscale": "Super-resolve your own images with trained or released weights.",
    "models": "List models, the released weights, and their parameter / multiply-add counts.",
    "replicate": "Run the notebook pipeline (papermill) that regenerates Table 1, Table 2 and figures.",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; the options of `command` (if given) are loaded from its module."""
    parser = argparse.ArgumentParser(prog="srlib", description="Replicate the MLRN super-resolution paper.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(f"srlib.commands.{name}")
            module.add_arguments(cmd)
            cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
