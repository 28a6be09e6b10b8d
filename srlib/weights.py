"""Trained weights: a state dict (`<name>.pt`) plus a JSON model card (`<name>.json`) beside it.

The card records what is needed to rebuild and to trust the weights: model name and constructor options,
scale, input channels, training profile and config hash, training data hashes, iterations, git commit, final
metrics, and the sha256 of the `.pt` file. `load_model` rebuilds the model from the card with
`srlib.models.build_model`, loads the state dict with `torch.load(..., weights_only=True)` (no pickled code is
ever executed) and refuses, with a clear message, weights whose card disagrees with the requested model or
scale or whose file hash does not match the card.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srlib.core import atomic

CARD_FORMAT = "srlib-model-card/1"


class WeightsError(ValueError):
    """Weights and card do not fit together or do not fit the request."""


def card_path_for(weights: str | os.PathLike[str]) -> Path:
    return Path(weights).with_suffix(".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def training_data_hashes(sets: list[str], data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Per training set: number of files and a sha256 over the sorted `name sha256(file)` lines."""
    from srlib.data.benchmark import set_files

    out: dict[str, Any] = {}
    for name in sets:
        files = sorted(Path(p) for p in set_files(name, data_dir))
        lines = "".join(f"{p.name} {_sha256(p)}\n" for p in files)
        out[name] = {"files": len(files), "sha256": hashlib.sha256(lines.encode()).hexdigest()}
    return out


def save_weights(model: nn.Module, path: str | os.PathLike[str], card: dict[str, Any]) -> Path:
    """Write the state dict to `path` and the card to `path` with `.json` (both atomically); returns the card
    path. `card` needs at least `model`, `options` and `scale`; format, hashes and versions are added."""
    for key in ("model", "options", "scale"):
        if key not in card:
            raise ValueError(f"model card needs {key!r}")
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic.write_torch(path, state)
    full = {
        "format": CARD_FORMAT,
        **card,
        "weights_file": path.name,
        "weights_sha256": _sha256(path),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "srlib_version": __import__("srlib").__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    card_path = card_path_for(path)
    atomic.write_text(card_path, json.dumps(full, indent=2, sort_keys=False) + "\n")
    return card_path


def weights_file(weights: str | os.PathLike[str]) -> Path:
    """The weights a user named: the file itself, or the one `<name>.pt` with a card in a run folder.

    A path that does not exist is reported as exactly that (not as a missing model card)."""
    path = Path(weights)
    if path.is_dir():
        found = sorted(p for p in path.glob("*.pt") if card_path_for(p).is_file())
        if len(found) == 1:
            return found[0]
        if not found:
            raise WeightsError(f"{path} holds no trained weights (<name>.pt with its card <name>.json)")
        raise WeightsError(f"{path} holds several weights ({', '.join(p.name for p in found)}); name one")
    if not path.exists():
        raise WeightsError(f"no such file: {path}")
    return path


def read_card(weights: str | os.PathLike[str]) -> dict[str, Any]:
    """The model card of weights `x.pt` (its `x.json`; the `.json` itself or a run folder may be given)."""
    path = weights_file(weights)
    card_path = path if path.suffix == ".json" else card_path_for(path)
    if not card_path.is_file():
        raise WeightsError(
            f"no model card {card_path} next to the weights {path}; srlib weights are saved "
            "as <name>.pt + <name>.json by `srlib train`"
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{card_path} is not an srlib model card (not JSON: {exc})") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise WeightsError(f"{card_path} is not an srlib model card (format {CARD_FORMAT})")
    return card


def load_model(
    weights: str | os.PathLike[str],
    model: str | None = None,
    scale: int | None = None,
    device: str | torch.device = "cpu",
    check_hash: bool = True,
) -> nn.Module:
    """Rebuild the model described by the card of `weights` and load the weights (eval mode, on `device`).

    `model` / `scale`, when given, must match the card (a x2 checkpoint is never silently used at x4).
    """
    from srlib.models import build_model

    path = weights_file(weights)
    card = read_card(path)
    pt = path if path.suffix != ".json" else path.with_name(card["weights_file"])
    if not pt.is_file():
        raise WeightsError(f"weights file {pt} does not exist")
    if model is not None and model.lower() != card["model"]:
        raise WeightsError(
            f"{pt} holds a {card['model']!r} model (see {card_path_for(pt).name}), "
            f"but {model!r} was requested"
        )
    if scale is not None and int(scale) != int(card["scale"]):
        raise WeightsError(
            f"{pt} was trained for x{card['scale']}, but x{scale} was requested; models are trained per scale"
        )
    if check_hash and card.get("weights_sha256") and _sha256(pt) != card["weights_sha256"]:
        raise WeightsError(
            f"{pt} does not match the sha256 in its model card; the file was changed or the "
            "card belongs to other weights"
        )
    net = build_model(card["model"], int(card["scale"]), **card.get("options", {}))
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch archive, or one holding more than tensors
        first = (str(exc).strip().splitlines() or [""])[0]
        raise WeightsError(f"{pt} is not a torch weights file ({type(exc).__name__}: {first})") from exc
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(
            f"{pt} does not fit {card['model']} with options {card.get('options')}: {exc}"
        ) from exc
    return net.to(device).eval()


def find_trained(results: str | os.PathLike[str]) -> list[tuple[Path, dict[str, Any]]]:
    """(weights file, card) of every run folder `results/<profile>/runs/<run>/` that holds trained weights,
    e.g. the committed quick run; unreadable folders are left out (this only feeds a hint)."""
    found = []
    for run_dir in sorted(Path(results).glob("*/runs/*/")):
        try:
            pt = weights_file(run_dir)
            found.append((pt, read_card(pt)))
        except (WeightsError, OSError):
            continue
    return found
