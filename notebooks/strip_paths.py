"""Replace this machine's absolute paths in the saved outputs of the committed notebooks by placeholders.

Why: the committed notebooks are read on other machines; `/tmp/tmp.x1/smoke/runs/...` or `/home/me/srlib/data`
in an output says nothing there (and leaks the path of whoever refreshed them). Run after refreshing the
outputs (docs/notebooks.md): `python notebooks/strip_paths.py RESULTS_DIR [DATA_DIR]`, where RESULTS_DIR is
the `$SRLIB_RESULTS` of that run; the checkout's own path becomes `<checkout>`. Only outputs change, so no
step key does (keys hash the code cells).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent


def strip(text: str, replacements: dict[str, str]) -> str:
    for path, placeholder in replacements.items():
        text = text.replace(path, placeholder)
    return text


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    replacements = {str(Path(argv[0]).resolve()): "<results>", argv[0].rstrip("/"): "<results>"}
    if len(argv) > 1:
        replacements[str(Path(argv[1]).resolve())] = "<data>"
    replacements[str(NOTEBOOKS.parent)] = "<checkout>"
    for path in sorted(NOTEBOOKS.glob("0*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        changed = 0
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if "text" in out:
                    new = strip(out["text"], replacements)
                    changed += new != out["text"]
                    out["text"] = new
                for mime, value in out.get("data", {}).items():
                    if mime.startswith("text/") and isinstance(value, str):
                        out["data"][mime] = strip(value, replacements)
        if changed:
            nbformat.write(nb, path)
            print(f"{path.name}: {changed} outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
