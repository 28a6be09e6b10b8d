"""`resolve_device(spec)`: the one place a user's `--device` string becomes a `torch.device`.

Every command (and `srlib.train`, `srlib.evaluation`) calls it, so an unavailable device is refused the same
way everywhere, with one line that says what this machine has ("available: cpu, cuda:0 (NVIDIA H200)")
instead of torch's `AssertionError: Torch not compiled with CUDA enabled` deep inside a model. `auto` is
`$SRLIB_DEVICE` when set (how `srlib replicate --devices` hands each notebook kernel its own device), else
CUDA when available, else the CPU; MPS (Apple GPUs) is used only when asked for (`--device mps`), because not
every operation of the models is implemented there.
"""

from __future__ import annotations

import os

import torch

from srlib.core.errors import SrlibError

KNOWN_TYPES = ("cpu", "cuda", "mps")
# What `auto` means when set: the device `srlib replicate --devices` gave this process (a notebook kernel).
DEVICE_ENV = "SRLIB_DEVICE"


class DeviceError(SrlibError, ValueError):
    """A device string that is malformed or names a device this machine (or this torch build) lacks."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """What `resolve_device` accepts here, for messages: cpu, each CUDA GPU (with its name), mps."""
    found = ["cpu"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            found.append(f"cuda:{i} ({torch.cuda.get_device_name(i)})")
    if _mps_available():
        found.append("mps")
    return found


def _refuse(spec: str, why: str) -> DeviceError:
    return DeviceError(f"device {spec!r}: {why}; available here: {', '.join(available_devices())}")


def _cuda(spec: str, index: int | None) -> torch.device:
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            why = f"this torch ({torch.__version__}) is a CPU-only build (README: choosing the torch wheel)"
        else:
            why = (
                f"torch {torch.__version__} has CUDA {torch.version.cuda} but sees no GPU "
                "(driver, CUDA_VISIBLE_DEVICES)"
            )
        raise _refuse(spec, why)
    count = torch.cuda.device_count()
    index = 0 if index is None else index
    if index >= count:
        raise _refuse(spec, f"there {'is' if count == 1 else 'are'} only {count} CUDA device(s)")
    return torch.device("cuda", index)


def device_override() -> str | None:
    """`$SRLIB_DEVICE` (stripped), or None when unset or empty: the device a pipeline step was given."""
    value = os.environ.get(DEVICE_ENV, "").strip()
    return value if value and value.lower() != "auto" else None


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The torch.device for `spec`: "auto"/None ($SRLIB_DEVICE if set, else CUDA if available, else CPU),
    "cpu", "cuda", "cuda:N", "mps".

    Raises DeviceError (a ValueError) naming the devices available here when `spec` is malformed or absent.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = "auto" if spec is None else str(spec).strip().lower()
    if text == "auto" and device_override() is not None:
        return resolve_device(device_override())
    if text == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise _refuse(str(spec), f"not a device (use auto, {', '.join(KNOWN_TYPES)} or cuda:N)") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        return _cuda(str(spec), device.index)
    if device.type == "mps":
        if not _mps_available():
            raise _refuse(str(spec), "MPS (Apple GPU) is not available in this torch build or machine")
        return torch.device("mps")
    raise _refuse(str(spec), f"srlib runs on {', '.join(KNOWN_TYPES)} only")
