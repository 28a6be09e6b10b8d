"""What `benchmarks/gpu_check.py` records about the machine, and its run of the cuda-marked tests."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]


def environment(device: torch.device) -> dict[str, Any]:
    from srlib.core.provenance import commit_label, device_info

    info = device_info()
    env: dict[str, Any] = {
        "device": str(device),
        "device_name": info["cpu"],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": info["cpu"],
        "cpu_count": info["cpu_count"],
        "torch_threads": torch.get_num_threads(),
        "git_commit": commit_label(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            device_name=torch.cuda.get_device_name(device),
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            compute_capability=f"{props.major}.{props.minor}",
            bf16_supported=bool(torch.cuda.is_bf16_supported()),
            cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
            matmul_allow_tf32=bool(torch.backends.cuda.matmul.allow_tf32),
            driver=_nvidia_driver(),
        )
    return env


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None


def run_cuda_tests(timeout_s: float, log: Path) -> dict[str, Any]:
    """`pytest -m cuda -v` on the test files that use the marker; counts from its per-test lines."""
    if importlib.util.find_spec("pytest") is None:
        return {"ran": False, "reason": "pytest is not installed"}
    files = sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "tests").glob("test_*.py")
        if "mark.cuda" in p.read_text(encoding="utf-8")
    )
    if not files:
        return {"ran": False, "reason": "no test uses the cuda marker"}
    cmd = [sys.executable, "-m", "pytest", "-v", "-m", "cuda", "-p", "no:cacheprovider", *files]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
        output, timed_out, rc = proc.stdout + proc.stderr, False, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        timed_out, rc = True, None
    log.write_text(output, encoding="utf-8")
    outcomes: dict[str, str] = {}
    for m in re.finditer(r"^(\S+::\S+)\s+(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)", output, re.M):
        outcomes[m.group(1)] = m.group(2)
    counts = {
        k.lower(): sum(v == k for v in outcomes.values()) for k in ("PASSED", "FAILED", "SKIPPED", "ERROR")
    }
    return {
        "ran": True,
        "files": files,
        "returncode": rc,
        "timed_out": timed_out,
        "timeout_s": round(timeout_s),
        "wall_s": round(time.perf_counter() - t0, 1),
        **counts,
        "not_passed": sorted(k for k, v in outcomes.items() if v in ("FAILED", "ERROR")),
        "log": log.name,
    }


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
