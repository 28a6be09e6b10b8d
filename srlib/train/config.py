"""Training profiles (data, in `srlib/train/profiles/*.json`) and the resolved configuration of one run.

A *profile* is a JSON file with shared defaults and per-model sizes; a *run config* is what one training of
one model at one scale uses: `resolve_config(model, scale, profile, overrides)` merges

    profile["defaults"]  <-  profile["models"][model]["train"]  <-  --set overrides

and puts `profile["models"][model]["options"]` under `model_options`. Overrides use dotted keys into the run
config (`optimizer.lr=2e-4`, `model_options.channels=16`, `iterations=500`) and JSON values (`true`, `[1, 2]`,
`"text"`; a value that is not valid JSON is taken as a plain string). Unknown keys are refused with the list
of valid ones, so a typo never silently trains the wrong thing. A profile may `"extends"` another one and
state only what it changes (`paper-amp.json` = `paper` + bf16 autocast + channels_last).

The config hash (`config_hash`) covers everything that changes the trained weights; the `runtime` section
(device, loader workers, progress bar, logging / checkpoint / validation cadence) is excluded, so a run can be
resumed on another device or with another checkpoint cadence, but never with another recipe.
`RunConfig.from_dict(config)` is the typed view the trainer reads; the dict stays the stored and hashed form.
The schema is documented in docs/training.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from srlib.core.paper import ABLATION_FLAGS, SCALES

PROFILE_NAMES = ("smoke", "quick", "paper", "paper-amp")

# Keys of the run config; anything else in an override is a typo. Values are checked in `validate_config`.
RUN_KEYS = (
    "profile",
    "model",
    "scale",
    "model_options",
    "seed",
    "iterations",
    "batch_size",
    "hr_patch",
    "optimizer",
    "schedule",
    "loss",
    "grad_clip",
    "amp",
    "data",
    "validation",
    "export",
    "runtime",
)
# Sub-keys that may be added by an override even if the profile does not list them.
OPEN_SECTIONS = ("model_options",)
# Keys that never change the weights; excluded from the hash so resuming may change them.
UNHASHED = ("runtime",)

LOSSES = ("l1", "mse", "charbonnier")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("step", "multistep", "constant")
AMP_MODES = ("none", "bf16", "fp16")  # null is read as "none" (profiles and runs written before "none")
# Runtime keys a profile may omit (execution details that leave the computed function unchanged up to float
# rounding, so they are not hashed: a run may be resumed with another layout or without compilation).
RUNTIME_DEFAULTS: dict[str, Any] = {"channels_last": False, "compile": False}


class ConfigError(ValueError):
    """A profile, an override or a resumed run's config is invalid; the message says what to change."""


def profile_path(name_or_path: str | Path) -> Path:
    """The JSON file of a built-in profile name (smoke, quick, paper) or an explicit path to a JSON file."""
    text = str(name_or_path)
    if text.endswith(".json") or "/" in text or "\\" in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"profile file {path} does not exist")
        return path
    if text not in PROFILE_NAMES:
        raise ConfigError(
            f"unknown profile {text!r}; built-in profiles: {', '.join(PROFILE_NAMES)} "
            "(or give a path to a JSON file)"
        )
    return Path(str(resources.files("srlib.train") / "profiles" / f"{text}.json"))


def _read_profile(path: Path) -> dict[str, Any]:
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"profile {path} is not valid JSON: {exc}") from exc
    if not isinstance(profile, dict):
        raise ConfigError(f"profile {path} is not a JSON object")
    return profile


def load_profile(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Load a profile (built-in name or JSON path) and check its structure.

    A profile with `"extends": "<profile>"` is that profile deep-merged with its own sections (so
    `paper-amp` states only what it changes); `name`, `description` and `reductions` are its own."""
    path = profile_path(name_or_path)
    if path.resolve() in _seen:
        raise ConfigError(f"profile {path} extends itself (through {', '.join(map(str, _seen))})")
    profile = _read_profile(path)
    if "extends" in profile:
        parent = str(profile["extends"])
        if parent.endswith(".json") and not Path(parent).is_absolute():
            parent = str(path.parent / parent)  # a file path is relative to the extending profile
        base = load_profile(parent, (*_seen, path.resolve()))
        own = {k: v for k, v in profile.items() if k != "extends"}
        profile = deep_merge(base, own)
        profile["extends"] = base["name"]
    for key in ("name", "description", "defaults", "models", "reductions", "evaluation"):
        if key not in profile:
            raise ConfigError(f"profile {path} has no {key!r} section")
    unknown = sorted(set(profile["defaults"]) - set(RUN_KEYS))
    if unknown:
        raise ConfigError(f"profile {path}: unknown default key(s) {unknown}; valid: {', '.join(RUN_KEYS)}")
    return profile


def parse_value(text: str) -> Any:
    """An override value: JSON if it parses (numbers, true/false/null, lists, objects, quoted strings), else
    the raw string (so `loss=mse` works without quotes)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """`["a.b=1", "loss=mse"]` -> `{"a.b": 1, "loss": "mse"}` (the CLI's repeated `--set key=value`)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. optimizer.lr=2e-4)")
        out[key.strip()] = parse_value(value.strip())
    return out


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `update` merged in recursively (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _valid_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, dict):
            paths.extend(_valid_paths(value, path + "."))
    return paths


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a copy of `config`; unknown keys raise ConfigError listing the valid ones."""
    out = copy.deepcopy(config)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            open_section = parts[0] in OPEN_SECTIONS and i >= 1
            if not isinstance(node, dict) or (part not in node and not open_section):
                valid = ", ".join(p for p in _valid_paths(config) if p not in ("profile", "model", "scale"))
                raise ConfigError(f"unknown config key {dotted!r}; valid keys: {valid}")
            if last:
                if isinstance(node.get(part), dict) and isinstance(value, dict):
                    node[part] = deep_merge(node[part], value)
                else:
                    node[part] = value
            else:
                if part not in node:
                    node[part] = {}
                node = node[part]
    return out


def resolve_config(
    model: str,
    scale: int,
    profile: str | Path | dict[str, Any] = "smoke",
    overrides: dict[str, Any] | list[str] | None = None,
) -> dict[str, Any]:
    """The complete run config for training `model` at `scale` with `profile` and `overrides`."""
    prof = load_profile(profile) if not isinstance(profile, dict) else profile
    model = model.lower()
    entries = prof["models"]
    if model not in entries:
        raise ConfigError(
            f"profile {prof['name']!r} has no entry for model {model!r}; "
            f"it defines: {', '.join(sorted(entries))}"
        )
    entry = entries[model]
    config = deep_merge(prof["defaults"], entry.get("train", {}))
    config["profile"] = prof["name"]
    config["model"] = model
    config["scale"] = int(scale)
    config["model_options"] = copy.deepcopy(entry.get("options", {}))
    if isinstance(config.get("runtime"), dict):
        config["runtime"] = {**RUNTIME_DEFAULTS, **config["runtime"]}
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    for key in ("profile", "model", "scale"):
        if overrides and key in overrides:
            raise ConfigError(f"{key!r} cannot be overridden; pass it as its own argument")
    config = apply_overrides(config, overrides or {})
    ordered = {k: config[k] for k in RUN_KEYS if k in config}
    validate_config(ordered)
    return ordered


def validate_config(config: dict[str, Any]) -> None:
    """Raise ConfigError for values that cannot work (checked before any training starts)."""
    missing = [k for k in RUN_KEYS if k not in config]
    if missing:
        raise ConfigError(f"run config lacks {missing}")
    scale = config["scale"]
    if scale not in SCALES:
        raise ConfigError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale}")
    hr = config["hr_patch"]
    if not isinstance(hr, int) or hr <= 0 or hr % scale:
        raise ConfigError(
            f"hr_patch={hr!r} must be a positive integer divisible by the scale {scale} "
            f"(LR patch = hr_patch / scale); use a multiple of 12 to serve x2, x3 and x4"
        )
    for key in ("iterations", "batch_size"):
        if not isinstance(config[key], int) or config[key] <= 0:
            raise ConfigError(f"{key} must be a positive integer, got {config[key]!r}")
    opt = config["optimizer"]
    if opt.get("name") not in OPTIMIZERS:
        raise ConfigError(f"optimizer.name must be one of {OPTIMIZERS}, got {opt.get('name')!r}")
    if not (isinstance(opt.get("lr"), (int, float)) and opt["lr"] > 0):
        raise ConfigError(f"optimizer.lr must be a positive number, got {opt.get('lr')!r}")
    sched = config["schedule"]
    if sched.get("name") not in SCHEDULES:
        raise ConfigError(f"schedule.name must be one of {SCHEDULES}, got {sched.get('name')!r}")
    loss = config["loss"]
    if loss.get("name") not in LOSSES:
        raise ConfigError(f"loss.name must be one of {LOSSES}, got {loss.get('name')!r}")
    if amp_mode(config["amp"]) not in AMP_MODES:
        raise ConfigError(f"amp must be 'none', 'bf16' or 'fp16', got {config['amp']!r}")
    if config["export"] not in ("last", "best"):
        raise ConfigError(f"export must be 'last' or 'best', got {config['export']!r}")
    if config["grad_clip"] is not None and not (
        isinstance(config["grad_clip"], (int, float)) and config["grad_clip"] > 0
    ):
        raise ConfigError(f"grad_clip must be null or a positive number, got {config['grad_clip']!r}")
    rt = config["runtime"]
    for key in ("ckpt_every", "keep_last", "log_every"):
        if not isinstance(rt.get(key), int) or rt[key] <= 0:
            raise ConfigError(f"runtime.{key} must be a positive integer, got {rt.get(key)!r}")
    for key in RUNTIME_DEFAULTS:
        if not isinstance(rt.get(key, False), bool):
            raise ConfigError(f"runtime.{key} must be true or false, got {rt.get(key)!r}")
    if not isinstance(rt.get("val_every"), int) or rt["val_every"] < 0:
        raise ConfigError(
            f"runtime.val_every must be an integer >= 0 (0 = only at the end), got {rt.get('val_every')!r}"
        )


def amp_mode(value: str | None) -> str | None:
    """The canonical precision mode: null and "none" are the same (float32)."""
    return "none" if value is None else value


def hashed_part(config: dict[str, Any]) -> dict[str, Any]:
    """The weight-relevant part; `amp: "none"` is hashed as null, the spelling of runs written before
    "none" existed, so their hashes (and resumes) stay valid."""
    out = {k: v for k, v in config.items() if k not in UNHASHED}
    if "amp" in out and amp_mode(out["amp"]) == "none":
        out["amp"] = None
    return out


def config_hash(config: dict[str, Any]) -> str:
    """sha256 (hex, first 16 digits) of the canonical JSON of the weight-relevant part of the run config."""
    text = json.dumps(hashed_part(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two (hashed parts of) configs: `key: old -> new`."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            lines.extend(config_diff(a, b, f"{prefix}{key}."))
        elif a != b:
            lines.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return lines


# ------------------------------------------------------------------------------------------ typed view


@dataclass(frozen=True)
class Runtime:
    """How a run executes (not hashed: may change on resume); defaults for keys a custom profile omits."""

    log_every: int
    ckpt_every: int
    keep_last: int
    val_every: int
    device: str = "auto"
    num_workers: int = 0
    threads: int | None = None
    progress: bool = True
    channels_last: bool = False  # NHWC memory layout for the model and its inputs (faster convs on GPUs)
    compile: bool = False  # torch.compile the training forward


@dataclass(frozen=True)
class DataSpec:
    train_sets: tuple[str, ...]
    augment: bool = True
    sampling: str = "uniform"


@dataclass(frozen=True)
class ValidationSpec:
    set: str | None = None  # None: no validation during training
    max_images: int | None = None  # the first n images of the set in sorted order; None or 0: all


@dataclass(frozen=True)
class RunConfig:
    """A resolved run config with typed fields; `resolved` is the dict it was built from (what is hashed,
    stored in config.json and checkpoints, and copied into model cards), so the two never disagree.
    Recipe sections handed to builders as they are (optimizer, schedule, loss) stay dicts."""

    profile: str
    model: str
    scale: int
    model_options: dict[str, Any]
    seed: int
    iterations: int
    batch_size: int
    hr_patch: int
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    loss: dict[str, Any]
    grad_clip: float | None
    amp: str  # "none" | "bf16" | "fp16"
    data: DataSpec
    validation: ValidationSpec
    export: str
    runtime: Runtime
    resolved: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> RunConfig:
        """The typed view of a `resolve_config` result (validated there); unknown section keys are ignored."""
        sections = {"data": DataSpec, "validation": ValidationSpec, "runtime": Runtime}
        values: dict[str, Any] = {}
        for key in RUN_KEYS:
            value = copy.deepcopy(config[key])
            if key in sections:
                known = sections[key].__dataclass_fields__
                value = sections[key](**{k: v for k, v in value.items() if k in known})
            values[key] = value
        data = values["data"]
        values["data"] = DataSpec(tuple(data.train_sets), data.augment, data.sampling)
        values["amp"] = amp_mode(values["amp"])
        return cls(**values, resolved=copy.deepcopy(config))

    @property
    def hash(self) -> str:
        return config_hash(self.resolved)

    @property
    def multi_output(self) -> bool:
        return bool(self.loss.get("multi_output", False))


def eval_plan(profile: str | Path | dict[str, Any], model: str) -> dict[str, Any]:
    """The evaluation a profile declares for `model`: `{"sets": [...], "max_images": {set: n}}`.

    `max_images[set] = n` means: evaluate the first n images of that set in sorted file order (a declared
    reduction that table captions print); sets not listed are evaluated in full.
    """
    prof = load_profile(profile) if not isinstance(profile, dict) else profile
    ev = prof["evaluation"]
    plan = {"sets": list(ev["sets"]), "max_images": dict(ev.get("max_images", {}))}
    per_model = ev.get("per_model", {}).get(model.lower(), {})
    plan["max_images"].update(per_model.get("max_images", {}))
    return plan


def model_size_notes(profile: str | Path | dict[str, Any], model: str) -> str | None:
    """`"vdsr: depth 8 (published 20), channels 32 (published 64)"` -- a profile's model options against the
    constructor defaults (the paper-size / published model); None when the profile uses the defaults."""
    from srlib.models import model_options

    prof = load_profile(profile) if not isinstance(profile, dict) else profile
    options = prof["models"].get(model.lower(), {}).get("options", {})
    defaults = model_options(model)
    parts = [
        f"{k} {json.dumps(v)} (default {json.dumps(defaults.get(k))})"
        for k, v in options.items()
        if k not in defaults or _normal(defaults[k]) != _normal(v)
    ]
    return f"{model.lower()}: " + ", ".join(parts) if parts else None


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def reductions(profile: str | Path | dict[str, Any], models: list[str] | None = None) -> list[str]:
    """Every way a profile departs from the paper: its declared list plus one line per model whose size
    differs from the paper-size / published default (for table captions)."""
    prof = load_profile(profile) if not isinstance(profile, dict) else profile
    out = list(prof["reductions"])
    for model in models if models is not None else list(prof["models"]):
        note = model_size_notes(prof, model)
        if note:
            out.append(note)
    return out


def ablation_overrides(flags: dict[str, bool]) -> dict[str, bool]:
    """Overrides for one Table 1 variant, e.g. `{"non_local": True, "second_order": False, ...}` ->
    `{"model_options.non_local": True, ...}` (the flags of `srlib.core.paper.TABLE1`)."""
    unknown = sorted(set(flags) - set(ABLATION_FLAGS))
    if unknown:
        raise ConfigError(f"unknown ablation flag(s) {unknown}; valid: {', '.join(ABLATION_FLAGS)}")
    return {f"model_options.{k}": bool(v) for k, v in flags.items()}
