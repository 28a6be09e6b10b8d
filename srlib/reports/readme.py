"""The README's result tables, copied from the committed `results/quick/table{1,2}.md` by code.

Why: the README is what people read first; a hand-copied table goes stale the day the results are
regenerated. `python -m srlib.reports.readme` rewrites the block between the markers, `--check` (and
tests/test_readme.py) fails when it differs from the tables it is taken from.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from srlib.core import atomic, paths

BEGIN = "<!-- results-tables: begin (python -m srlib.reports.readme; do not edit) -->"
END = "<!-- results-tables: end -->"
PROFILE = "quick"


def _table_lines(lines: list[str], start: int) -> list[str]:
    """The Markdown table that starts at or after line `start`."""
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[first:end]


def _notes(text: str, table: list[str]) -> list[str]:
    """The footnote lines (`[n] ...`) of `text` that `table` refers to."""
    used = set(re.findall(r"\[(\d+)\]", "\n".join(table)))
    return [line for line in text.splitlines() if (m := re.match(r"\[(\d+)\] ", line)) and m.group(1) in used]


def block(root: Path) -> str:
    """Table 1 and Table 2's PSNR part from `<root>/table1.md` and `<root>/table2.md`, with their notes."""
    parts = []
    for name, title, section in (
        ("table1.md", "**Table 1** (MLRN ablation, Set5 x2, PSNR):", None),
        ("table2.md", "**Table 2** (PSNR, dB):", "### PSNR (dB)"),
    ):
        text = (root / name).read_text(encoding="utf-8")
        lines = text.splitlines()
        table = _table_lines(lines, lines.index(section) if section else 0)
        notes = _notes(text, table)
        parts.append("\n".join([title, "", *table, *(["", *notes] if notes else [])]))
    return "\n\n".join(parts)


def sync(readme: Path, root: Path, check: bool = False) -> bool:
    """Rewrite (or with `check`, compare) the README block; True when it is current."""
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme}: no {BEGIN!r} ... {END!r} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{block(root)}\n{END}{tail}"
    if new == text:
        return True
    if not check:
        atomic.write_text(readme, new)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srlib.reports.readme", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the README block is stale")
    parser.add_argument("--results", help=f"results folder of the profile (default: results/{PROFILE})")
    args = parser.parse_args(argv)
    repo = paths.repo_root()
    if repo is None:
        raise SystemExit("srlib.reports.readme needs a source checkout (README.md)")
    root = Path(args.results) if args.results else repo / "results" / PROFILE
    current = sync(repo / "README.md", root, check=args.check)
    print(f"README.md: {'current' if current else ('stale' if args.check else 'rewritten')}")
    return 0 if current or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
