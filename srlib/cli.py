"""The `srlib` command. Each subcommand lives in `srlib/commands/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`. Only the module of the command being run is imported, so
`srlib --help` stays fast and one command's heavy imports never break another.

Exit status (docs/cli.md): 0 done; 2 refused or failed with a one-line message `srlib <command>: error: ...`
(bad options, missing files, data not prepared, unavailable device, a folder run where some files failed);
1 a check that ran and found problems (`srlib data verify`) or an internal error (a bug: traceback);
130 interrupted. `--debug` (anywhere on the line) or `SRLIB_DEBUG=1` shows the traceback of a one-line error.
"""

from __future__ import annotations

import argparse
import importlib
import os
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
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; the options of `command` (if given) are loaded from its module."""
    parser = argparse.ArgumentParser(prog="srlib", description="Replicate the MLRN super-resolution paper.")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (also: SRLIB_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(f"srlib.commands.{name}")
            module.add_arguments(cmd)
            cmd.set_defaults(_run=module.run)
    return parser


def debug_requested(argv: list[str]) -> bool:
    env = os.environ.get("SRLIB_DEBUG", "").strip().lower()
    return "--debug" in argv or env not in ("", "0", "false", "no")


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Errors shown as one line: srlib's own, argument validation (ValueError), user paths (OSError)."""
    from srlib.core.errors import SrlibError

    errors: list[type[BaseException]] = [SrlibError, ValueError, OSError, MemoryError]
    torch = sys.modules.get("torch")  # only a command that imported torch can run out of GPU memory
    if torch is not None and hasattr(torch, "OutOfMemoryError"):
        errors.append(torch.OutOfMemoryError)  # said in one line, with the way out
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = debug_requested(argv)
    argv = [a for a in argv if a != "--debug"]
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    name = " ".join(filter(None, (args.command, getattr(args, "data_command", None))))  # "data prepare"
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"srlib {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _expected_errors() as exc:
        if debug:
            raise
        from srlib.core.errors import one_line

        message = one_line(exc)
        if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
            message = f"out of memory ({message.splitlines()[0]}); try a smaller --tile or --device cpu"
        print(f"srlib {name}: error: {message}", file=sys.stderr)  # hint lines may follow
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
