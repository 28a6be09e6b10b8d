"""`srlib weights prepare | verify | list`: get the authors' released weights of SRCNN, VDSR and LapSRN."""

from __future__ import annotations

import argparse

from srlib.commands.data import add_fetch_arguments

NAMES_HELP = (
    "released models: srcnn (9-5-5, Table 2's SRCNN), srcnn-915, vdsr, lapsrn, or 'all' (default: all, "
    "which also fetches the two further SRCNN x3 variants of the release)"
)
DIR_HELP = (
    "weights folder (default: $SRLIB_WEIGHTS, else weights/ in the checkout, else ~/.cache/srlib/weights)"
)

EPILOG = """\
Each file ends up as WEIGHTS_DIR/<folder>/<file> (e.g. weights/srcnn/SRCNN_955_ImageNet_x2.mat),
verified against the sha256 and size in srlib/data/weights_manifest.tsv. Sources, in order: a file
already in place and valid is kept; else a copy from the mirror (--mirror or $SRLIB_WEIGHTS_MIRROR, a
folder laid out like ../shared/weights); else a download from the URL pinned to the authors' GitHub
repository and commit (or URL_BASE/<folder>/<file> with --url-base or $SRLIB_WEIGHTS_URL_BASE). The
same machinery as `srlib data prepare`: atomic writes, an interrupted run resumes, files that cannot be
obtained are listed in one error (exit status 1).
The files are their authors' (released for research use); they are never committed (.gitignore).

examples:
  srlib weights prepare --mirror ../shared/weights
  srlib weights prepare srcnn vdsr        # downloaded from the pinned URLs
  srlib weights list
  srlib evaluate --released vdsr --sets Set5 --protocol authors
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="weights_command", required=True, metavar="ACTION")
    p = sub.add_parser(
        "prepare",
        help="copy (from a mirror) or download the released weights, verifying every sha256",
        description="Fill WEIGHTS_DIR/<folder>/<file> with the released weights, sha256- and size-verified.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=NAMES_HELP)
    p.add_argument("--weights-dir", metavar="DIR", help=DIR_HELP)
    p.add_argument(
        "--mirror",
        metavar="DIR",
        help="local mirror laid out as DIR/<folder>/<file>, tried before downloading "
        "(default: $SRLIB_WEIGHTS_MIRROR)",
    )
    p.add_argument(
        "--url-base", metavar="URL", help="download URL/<folder>/<file> instead of the pinned URLs"
    )
    add_fetch_arguments(p)
    v = sub.add_parser(
        "verify",
        help="re-hash the released weights in the weights folder (changes nothing)",
        description="Re-hash the files of the released models; exit status 1 if any is missing or different.",
    )
    v.add_argument("names", nargs="*", metavar="NAME", help=NAMES_HELP)
    v.add_argument("--weights-dir", metavar="DIR", help=DIR_HELP)
    ls = sub.add_parser("list", help="list the released models, their files and whether they are fetched")
    ls.add_argument("--weights-dir", metavar="DIR", help=DIR_HELP)


def relpaths(names: list[str]) -> list[str] | None:
    """The manifest files behind released `names` (None: every file of the manifest)."""
    from srlib.released import release

    if not names or any(n.lower() == "all" for n in names):
        return None
    return [p for n in names for p in dict.fromkeys(release(n).files.values())]


def status_lines(weights_dir: str | None, rehash: bool = False) -> list[str]:
    """One line per released model: scales, files and their state (for `list` and `srlib models`)."""
    from srlib.data.weights_manifest import state, weight_entry
    from srlib.released import RELEASES

    lines = []
    for rel in RELEASES.values():
        files = list(dict.fromkeys(rel.files.values()))
        states = {p: state(weight_entry(p), weights_dir, rehash) for p in files}
        ok = sum(s == "ok" for s in states.values())
        summary = "fetched" if ok == len(files) else "not fetched" if ok == 0 else f"{ok}/{len(files)} files"
        bad = "; ".join(f"{p}: {s}" for p, s in states.items() if s not in ("ok", "missing"))
        scales = " ".join(f"x{s}" for s in rel.scales)
        notes = "".join(f"; x{s}: {note}" for s, note in rel.notes.items())
        line = f"{rel.name:<10} {scales:<10} {summary:<12} {rel.title}{notes}"
        lines.append(line + (f" [{bad}]" if bad else ""))
    return lines


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from srlib.core import paths
    from srlib.data.fetch import PrepareError

    root = args.weights_dir or str(paths.weights_dir())
    try:
        if args.weights_command == "list":
            print(f"weights folder: {root}")
            print("\n".join(status_lines(root)))
            return 0
        files = relpaths(args.names)
        if args.weights_command == "verify":
            from srlib.data.fetch import is_valid
            from srlib.data.weights_manifest import select

            bad = [e for e in select(files) if not is_valid(e, e.path(Path(root)))]
            for e in bad:
                print(f"missing or wrong size/sha256: {e.path(Path(root))}")
            print(f"{len(select(files)) - len(bad)} of {len(select(files))} files ok in {root}")
            if bad:
                print(f"fix: srlib weights prepare {' '.join([*args.names, '--weights-dir', root])}")
            return 1 if bad else 0
        from srlib.data.weights_manifest import prepare_weights

        summary = prepare_weights(
            files, root, args.mirror, progress=not args.no_progress, url_base=args.url_base,
            offline=args.offline, timeout=args.timeout, retries=args.retries,
        )  # fmt: skip
        print(summary)
        return 0
    except (PrepareError, ValueError, KeyError) as e:
        print(f"srlib weights {args.weights_command}: error: {e}", file=sys.stderr)
        return 1
