"""`srlib data prepare | verify | list`: get the benchmark and training sets, check them, list them."""

from __future__ import annotations

import argparse

SETS_HELP = (
    "sets, case-insensitive: Set5 Set14 BSD100 Urban100 (test), T91 BSD200 (train), the groups 'test', "
    "'train', 'all', or Demo (scikit-image photographs: a demo set, not a benchmark; needs no download). "
    "Default: all six benchmark and training sets"
)
DATA_DIR_HELP = "data directory (default: $SRLIB_DATA, else data/ in the checkout, else ~/.cache/srlib/data)"

PREPARE_EPILOG = """\
Each file ends up as DATA_DIR/<Set>/<file>, verified against the sha256 and size in srlib/data/manifest.tsv.
Sources, in order: a file already in place and valid is kept (a rerun resumes an interrupted one); else a copy
from the mirror (--mirror or $SRLIB_MIRROR, a folder laid out as MIRROR/<Set>/<file>; a mirror file with a
wrong hash is reported and not copied); else a download from the URL pinned to a GitHub repository and commit
(or from URL_BASE/<Set>/<file> with --url-base or $SRLIB_DATA_URL_BASE). Files that cannot be obtained are
listed in one error message; the exit status is then 2 (docs/cli.md).

examples:
  srlib data prepare --sets Set5 Set14 --mirror ../shared/datasets
  srlib data prepare --sets test          # the four test sets, downloaded
  srlib data prepare --sets Demo          # the demo photographs, no download
"""


def add_fetch_arguments(p: argparse.ArgumentParser) -> None:
    """The download options `srlib data prepare` and `srlib weights prepare` share (one fetch machinery)."""
    p.add_argument(
        "--offline", action="store_true", help="never download; only keep and copy from the mirror"
    )
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="network timeout in seconds (30)")
    p.add_argument("--retries", type=int, default=2, metavar="N", help="extra attempts per download (2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = sub.add_parser(
        "prepare",
        help="copy (from a mirror) or download the sets, verifying every sha256",
        description="Fill DATA_DIR/<Set>/<file> with the sets, every file verified by sha256 and size.",
        epilog=PREPARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sets", nargs="+", metavar="SET", help=SETS_HELP)
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument(
        "--mirror",
        metavar="DIR",
        help="local mirror laid out as DIR/<Set>/<file>, tried before downloading (default: $SRLIB_MIRROR)",
    )
    p.add_argument(
        "--url-base",
        metavar="URL",
        help="download URL/<Set>/<file> instead of the pinned GitHub URLs (default: $SRLIB_DATA_URL_BASE)",
    )
    add_fetch_arguments(p)

    v = sub.add_parser(
        "verify",
        help="re-hash the files in the data directory against the manifest (changes nothing)",
        description="Re-hash every file of the sets against the manifest; exit status 1 if any is missing or "
        "different. Changes nothing: `srlib data prepare` repairs.",
    )
    v.add_argument("--sets", nargs="+", metavar="SET", help=SETS_HELP)
    v.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    v.add_argument("--no-progress", action="store_true", help="no progress bar")

    ls = sub.add_parser(
        "list",
        help="list the sets: role, files, size, source, and whether they are in the data directory",
        description="List the sets with their role, file count, size, pinned source and local state "
        "(checked by presence and size only; `srlib data verify` re-hashes).",
    )
    ls.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)


def _list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from srlib.core import paths
    from srlib.data import demo
    from srlib.data.manifest import ALL_SETS, TEST_SETS, entries

    root = Path(args.data_dir) if args.data_dir else paths.data_dir()
    print(f"data directory: {root}")
    print(f"{'set':<9} {'role':<6} {'files':>5} {'MB':>7}  {'local':<20} source")
    for name in ALL_SETS:
        rows = entries([name])
        present = sum(1 for e in rows if e.path(root).is_file() and e.path(root).stat().st_size == e.size)
        state = (
            "ready"
            if present == len(rows)
            else ("absent" if present == 0 else f"{present}/{len(rows)} files")
        )
        role = "test" if name in TEST_SETS else "train"
        sources = sorted({e.source for e in rows})
        mb = sum(e.size for e in rows) / 1e6
        print(f"{name:<9} {role:<6} {len(rows):>5} {mb:>7.1f}  {state:<20} {', '.join(sources)}")
    demo_files = demo.files(root)
    demo_state = "ready" if all(f.is_file() for f in demo_files) else "written on first use"
    print(
        f"{demo.DEMO_SET:<9} {'demo':<6} {len(demo_files):>5} {'-':>7}  {demo_state:<20} "
        "scikit-image sample photographs (a demo set, not a benchmark)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.data_command == "list":
        return _list(args)

    from srlib.data.prepare import run_prepare, verify

    # PrepareError and unknown set names: one line (exit 2) from srlib.cli
    if args.data_command == "prepare":
        summary = run_prepare(
            args.sets,
            args.data_dir,
            args.mirror,
            progress=not args.no_progress,
            url_base=args.url_base,
            offline=args.offline,
            timeout=args.timeout,
            retries=args.retries,
        )
        print(summary)
        return 0
    report = verify(args.sets, args.data_dir, progress=not args.no_progress)
    print(report)
    return 0 if report.all_ok else 1  # the check ran and found missing or different files
