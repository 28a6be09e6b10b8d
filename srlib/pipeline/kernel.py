"""The Jupyter kernel the pipeline executes notebooks with: found, registered when missing, checked to import
srlib (a stale user-level kernel pointing at another Python is the usual "No module named srlib")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

KERNEL_NAME = "srlib"
KERNEL_DISPLAY_NAME = "Python (srlib)"
# Why quiet: every kernel start otherwise logs ipykernel's "running over TCP without encryption" warning,
# once per step, burying the progress lines. The pipeline's kernels listen on the loopback interface only
# and every message is signed with the connection file's key (readable only by the user); errors still
# reach stderr.
KERNEL_ARGS = ("--IPKernelApp.log_level=ERROR",)


class KernelError(RuntimeError):
    """The Jupyter kernel the pipeline needs is missing and cannot be registered, or is broken."""


def _kernel_spec(name: str, prefix: str | None) -> Any:
    """Kernel spec `name`, registered into `prefix` (default: this environment) if Jupyter has none."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        target = prefix or sys.prefix
        print(f"Jupyter kernel {name!r} not found; registering it in {target}", flush=True)
        install(kernel_name=name, display_name=KERNEL_DISPLAY_NAME, prefix=target)
        try:
            return KernelSpecManager().get_kernel_spec(name)
        except NoSuchKernel as exc:
            raise KernelError(
                f"registered kernel {name!r} in {target} but Jupyter does not find it; check JUPYTER_PATH"
            ) from exc


def ensure_kernel(name: str = KERNEL_NAME, prefix: str | None = None) -> str:
    """Make sure Jupyter kernel `name` exists and runs a Python that can import srlib; return its directory.

    A missing kernel is registered into `prefix` (default: this environment, as `make setup` does with
    `ipykernel install --sys-prefix --name srlib`), so the pipeline never stops at "No such kernel".
    """
    spec = _kernel_spec(name, prefix)
    python = spec.argv[0] if spec.argv else ""
    same = python in ("python", "python3") or (
        Path(python).exists() and Path(python).resolve() == Path(sys.executable).resolve()
    )
    if not same:
        probe = (
            subprocess.run([python, "-c", "import srlib"], capture_output=True, text=True, check=False)
            if Path(python).exists()
            else None
        )
        if probe is None or probe.returncode != 0:
            raise KernelError(
                f"Jupyter kernel {name!r} ({spec.resource_dir}) runs {python!r}, which cannot import srlib; "
                f"re-register it with `{sys.executable} -m ipykernel install --sys-prefix --name {name}` "
                "(and remove a stale user-level copy with `jupyter kernelspec remove`)"
            )
    return spec.resource_dir


def kernel_env(extra: dict[str, str]) -> type:
    """A kernel manager class whose kernels start with `extra` added to this process's environment.

    Why a class: papermill passes engine keyword arguments on as nbclient traits, and `kernel_manager_class`
    is the one that reaches the kernel's start (`start_kernel(env=...)`). Changing `os.environ` instead would
    race between steps started concurrently from threads (srlib.pipeline.schedule).
    """
    import os

    from jupyter_client import AsyncKernelManager

    class _EnvKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            kw["env"] = {**(kw.get("env") or os.environ), **extra}
            await super().start_kernel(**kw)

    return _EnvKernelManager
