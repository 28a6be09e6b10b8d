"""The errors srlib reports to a user as one line (`srlib <command>: error: <message>`, exit status 2).

A `SrlibError` means "the request cannot be done as asked" (a missing file, data not prepared, an unavailable
device, a wrong kind of file): the message names the thing and says what to do, and a traceback would only
hide it. `srlib.cli` prints these, and also `ValueError` and `OSError` (argument validation, user paths), as
one line; `--debug` or `SRLIB_DEBUG=1` shows the traceback instead. Anything else is a bug and keeps its
traceback. Errors that must stay a `ValueError` / `RuntimeError` for library callers inherit both."""

from __future__ import annotations


class SrlibError(Exception):
    """A request srlib refuses or cannot complete; the message alone explains it to the user."""


class UsageError(SrlibError, ValueError):
    """Command-line options that do not fit together (or name something that does not exist)."""


def one_line(exc: BaseException) -> str:
    """The user-facing message of `exc`: OSErrors as "<reason>: <path>", others as their text."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror.lower()
        target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else str(exc.filename)
        return f"{reason}: {target}"
    text = str(exc).strip()
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])
    return text or type(exc).__name__
