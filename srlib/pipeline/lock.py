"""One writer per results folder: an exclusive lock file, so two `srlib replicate` on the same folder cannot
both run (they would train the same run folders at once and interleave their logs).

The lock is `<results>/.replicate.lock`, created with O_CREAT | O_EXCL (atomic on local file systems) and
holding the owner's pid, host, command line and start time. A lock whose process is gone (killed, machine
rebooted) is stale: the next run removes it and takes the folder. A hidden name, so the step hashes skip it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

LOCK_NAME = ".replicate.lock"


class LockedError(RuntimeError):
    """The results folder is being written by another live process."""


def _alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (EPERM: it exists but belongs to someone else)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class ResultsLock:
    """`with ResultsLock(root): ...` holds `root` for this process; raises LockedError if another has it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.path = Path(root) / LOCK_NAME
        self.held = False

    def _create(self) -> bool:
        """Create the lock file; False if it already exists."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(sys.argv),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(owner, fh)
        return True

    def _stale(self, owner: dict[str, Any] | None) -> bool:
        """A lock left by a process that is gone (same host) or unreadable (a crash while writing it)."""
        if owner is None:
            return True
        return owner.get("host") == socket.gethostname() and not _alive(int(owner.get("pid", -1)))

    def acquire(self) -> None:
        for _ in range(2):
            if self._create():
                self.held = True
                return
            owner = _read(self.path)
            if not self._stale(owner):
                raise LockedError(
                    f"{self.path.parent} is being written by process {owner['pid']} on {owner['host']} "
                    f"({owner.get('command', '?')}, started {owner.get('started', '?')}); wait for it to "
                    f"finish or stop it (a lock left by a dead process is removed automatically)"
                )
            print(f"removing a stale lock {self.path} (process {owner and owner.get('pid')} is gone)")
            self.path.unlink(missing_ok=True)
        raise LockedError(f"could not lock {self.path.parent}: another process keeps taking it")

    def release(self) -> None:
        if self.held and (_read(self.path) or {}).get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> ResultsLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
