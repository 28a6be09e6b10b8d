"""One writer per results folder: a second `srlib replicate` on a folder a live process holds exits with one
line naming that process; a lock left by a killed process does not block the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from srlib.pipeline.lock import LOCK_NAME, LockedError, ResultsLock

REPO = Path(__file__).resolve().parents[1]
HOLD = "import sys, time\nfrom srlib.pipeline.lock import ResultsLock\nwith ResultsLock(sys.argv[1]):\n" \
       "    print('held', flush=True)\n    time.sleep(120)\n"  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_the_lock_is_released_and_refuses_a_second_holder(tmp_path: Path) -> None:
    with ResultsLock(tmp_path) as lock:
        owner = json.loads(lock.path.read_text())
        assert owner["pid"] == os.getpid() and lock.path.name == LOCK_NAME
        (tmp_path / LOCK_NAME).write_text(json.dumps({**owner, "pid": os.getppid()}))  # another live process
        with pytest.raises(LockedError, match=rf"written by process {os.getppid()} on "):
            ResultsLock(tmp_path).acquire()
        (tmp_path / LOCK_NAME).write_text(json.dumps(owner))
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.mark.slow
def test_a_second_replicate_on_a_locked_folder_exits_with_one_line(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], env=_env(), stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = subprocess.run(
            [sys.executable, "-m", "srlib.cli", "replicate", "--profile", "smoke", "--scales", "2",
             "--results", str(tmp_path), "--only", "00_data"],
            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert second.returncode == 2, second.stdout + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"being written by process {holder.pid}" in lines[0], second.stderr
        assert not (tmp_path / "steps").exists()  # it ran nothing
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed process leaves its lock behind
        holder.wait()
    assert (tmp_path / LOCK_NAME).is_file()
    with ResultsLock(tmp_path) as lock:  # stale: its process is gone
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
