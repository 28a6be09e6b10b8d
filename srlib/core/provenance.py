"""Hashing and provenance: one sha256 of a file, one description of the git checkout, the packages and the
machine, so that model cards, step records and `provenance.json` always agree."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from typing import Any

from srlib.core import paths

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_state() -> dict[str, Any]:
    """Commit and dirty flag (tracked files changed outside `results/`) of the checkout srlib runs from (None
    outside a git checkout)."""
    root = paths.repo_root()
    if root is None:
        return {"commit": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    # the results folder is what a run writes (provenance.json itself), not what it ran
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def package_versions() -> dict[str, str | None]:
    from importlib import metadata

    names = (
        "srlib",
        "torch",
        "numpy",
        "scikit-image",
        "pillow",
        "h5py",
        "pandas",
        "matplotlib",
        "papermill",
        "nbclient",
        "ipykernel",
    )
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info() -> dict[str, Any]:
    """What computed the results: CPU model and core count, and the CUDA devices torch sees."""
    cpu = platform.processor() or None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cpu_count": os.cpu_count()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        info["cuda"] = None
    return info


def commit_label(state: dict[str, Any] | None = None) -> str | None:
    """`<sha>` or `<sha>-dirty` (the form model cards store), from the same `git_state` as provenance.json."""
    state = git_state() if state is None else state
    if state["commit"] is None:
        return None
    return state["commit"] + ("-dirty" if state["dirty"] else "")
