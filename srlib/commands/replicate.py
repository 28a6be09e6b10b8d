"""`srlib replicate`: run the notebook pipeline (papermill) that regenerates Table 1, Table 2 and the figures.

The steps, in order: 00_data (prepare + verify data, Bicubic check), 01_train (one per model, scale and
Table 1 variant), 02_evaluate (one per trained model and Bicubic), 03_table1_ablation, 04_table2, 05_figures.
Executed notebooks land in <results>/<profile>/notebooks/; a step whose notebook, parameters, inputs and the
srlib modules its notebook imports are unchanged since it last succeeded is skipped, so re-running after an
interruption resumes.
"""

from __future__ import annotations

import argparse
import os
import sys

from srlib.core.errors import SrlibError
from srlib.core.paper import SCALES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--profile",
        default="quick",
        help="training profile: smoke (minutes, checks the pipeline), quick (CPU, under an hour, reduced "
        "models), paper (the paper's recipe; GPU, days), or a path to a profile JSON (default: quick)",
    )
    parser.add_argument(
        "--scales", type=int, nargs="+", default=list(SCALES), metavar="S",
        help="scales to replicate (default: 2 3 4); Table 1 is planned only when 2 is included",
    )  # fmt: skip
    parser.add_argument(
        "--only", nargs="+", metavar="STEP",
        help="run only these steps -- notebook names (e.g. 04_table2) or step ids (e.g. 01_train-mlrn-x2, "
        "see --list) -- and the steps they depend on (those are skipped when up to date)",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="re-run the selected steps even if up to date")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="let steps replace a table, evaluation or figure with one covering fewer models, scales or sets "
        "(refused otherwise; same as SRLIB_OVERWRITE=1)",
    )  # fmt: skip
    parser.add_argument(
        "--list", action="store_true",
        help="print the planned steps and their state (up to date, or why it would run); run nothing",
    )  # fmt: skip
    parser.add_argument(
        "--results", default="", metavar="DIR",
        help="results folder of this profile (default: <results>/<profile>, $SRLIB_RESULTS)",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir", default="", metavar="DIR", help="data folder (default: $SRLIB_DATA or data/)"
    )
    parser.add_argument(
        "--mirror",
        default="",
        metavar="DIR",
        help="local dataset mirror laid out <Set>/<file> (default: $SRLIB_MIRROR)",
    )
    parser.add_argument(
        "--cell-timeout", type=float, default=None, metavar="SECONDS",
        help="papermill's per-cell time limit (default per profile: smoke 900, quick 10800, paper 14 days)",
    )  # fmt: skip
    parser.add_argument(
        "--devices", nargs="+", metavar="DEV",
        help="run independent trainings and evaluations concurrently, at most one per device, in "
        "dependency order (e.g. --devices cuda:0 cuda:1; a device may repeat: --devices cpu cpu); each "
        "notebook gets its device as $SRLIB_DEVICE; seeded, so the results equal a sequential run's; a "
        "failed step stops only the steps that depend on it (default: on a CPU, a profile that pins "
        "runtime.threads runs cores / threads steps at once -- quick: 1 thread, so 2 steps on 2 cores; "
        "--devices cpu runs one at a time; else one step at a time, on the profile's device)",
    )  # fmt: skip
    parser.add_argument(
        "--kernel",
        default="srlib",
        help="Jupyter kernel to run the notebooks with; registered if missing (default: srlib)",
    )


def _list(args: argparse.Namespace) -> int:
    from srlib.pipeline.plan import make_runner, plan
    from srlib.pipeline.runner import order_steps

    steps = plan(args.profile, args.scales, results_dir=args.results, data_dir=args.data_dir,
                 mirror=args.mirror)  # fmt: skip
    selected = order_steps(steps, args.only)
    runner, _ = make_runner(args.profile, args.results, data_dir=args.data_dir, mirror=args.mirror,
                            kernel=args.kernel)  # fmt: skip
    for k, step in enumerate(selected, 1):
        rec = runner.record(step)
        last = f" (last run {rec['wall_s']:.0f} s, {rec['status']})" if rec else ""
        print(f"{k:3d}. {step.id:32s} {runner.explain(step)}{last}")
    return 0


def run(args: argparse.Namespace) -> int:
    from srlib.core.coverage import OVERWRITE_ENV
    from srlib.pipeline.kernel import KernelError
    from srlib.pipeline.lock import LockedError
    from srlib.pipeline.plan import run_pipeline
    from srlib.pipeline.runner import StepFailed

    if args.overwrite:
        os.environ[OVERWRITE_ENV] = "1"  # the notebook kernels inherit it
    try:
        if args.list:
            return _list(args)
        run_pipeline(
            args.profile,
            args.scales,
            only=args.only,
            force=args.force,
            results_dir=args.results,
            data_dir=args.data_dir,
            mirror=args.mirror,
            cell_timeout=args.cell_timeout,
            kernel=args.kernel,
            progress_bar=sys.stderr.isatty() and not args.devices,
            devices=args.devices,
        )
    except (StepFailed, KernelError, LockedError) as exc:  # ValueErrors and srlib errors: one line, srlib.cli
        raise ReplicateError(str(exc)) from exc
    except KeyboardInterrupt:
        print("srlib replicate: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


class ReplicateError(SrlibError):
    """A step failed, the kernel could not start, or another replicate holds the results folder."""
