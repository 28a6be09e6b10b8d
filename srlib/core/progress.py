"""One progress-bar factory, so a notebook the pipeline executes shows plain text bars.

Why: `tqdm.auto` draws a Jupyter widget inside a kernel, and a widget's state renders only in a trusted
notebook: the executed notebooks committed under `results/` (and `notebooks/`), opened from a fresh clone,
would show every bar stuck at 0 %. The pipeline sets `SRLIB_PROGRESS=text`; interactive use keeps the widgets.
"""

from __future__ import annotations

import os
from typing import Any


def tqdm(*args: Any, **kwargs: Any) -> Any:
    """`tqdm.auto.tqdm`, or the plain-text `tqdm.std.tqdm` when `$SRLIB_PROGRESS` is `text`."""
    if os.environ.get("SRLIB_PROGRESS", "").lower() == "text":
        from tqdm.std import tqdm as text_tqdm

        return text_tqdm(*args, **kwargs)
    from tqdm.auto import tqdm as auto_tqdm

    return auto_tqdm(*args, **kwargs)
