"""The one run layout and the run API the notebooks, the pipeline and `srlib train` share.

A profile's results folder (`Runs.root`: `--results DIR`, else `<srlib.core.paths.results_dir()>/<profile>`):

    data.json               data hashes (00_data)          runs/<run id>/   one training (01_train)
    eval/<run id>.csv       per-image rows (02_evaluate)   eval/<run id>_means.csv  set means

Run ids: `<model>-x<scale>`; a Table 1 variant of MLRN adds its switched-on branches (`mlrn-nl-x2`). Why one
object owns the layout: a notebook that gets the results folder finds what the steps before it wrote there,
whatever the working directory (the bug this replaced: evaluation looked under the checkout's results/).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srlib.core import atomic, paths
from srlib.core.paper import ABLATION_FLAGS, DISPLAY_NAMES, TABLE2_MODELS, variant_label

LEARNED_MODELS: tuple[str, ...] = tuple(m for m in TABLE2_MODELS if m != "bicubic")
PathLike = str | os.PathLike[str]


class MissingResultError(FileNotFoundError):
    """A notebook needs a run or an evaluation that has not been produced (and may not produce it)."""


@dataclass(frozen=True)
class RunSpec:
    """One trained (or non-learned) model at one scale; MLRN's ablation flags pick a Table 1 variant."""

    model: str
    scale: int
    non_local: bool = True
    second_order: bool = True
    multi_scale: bool = True

    def __post_init__(self) -> None:
        from srlib.models import model_factory

        model_factory(self.model)  # unknown names fail here with the list of valid ones
        if self.model.lower() != "mlrn" and not all(self.flags.values()):
            raise ValueError(f"ablation flags switch MLRN's branches; {self.model!r} has none to switch off")
        if self.model.lower() == "mlrn" and not any(self.flags.values()):
            raise ValueError("an MLRN variant needs at least one of non_local, second_order, multi_scale")

    @classmethod
    def from_overrides(cls, model: str, scale: int, overrides: Mapping[str, Any]) -> RunSpec:
        """The spec a training with dotted `overrides` is (`model_options.non_local=false` -> a variant)."""
        if model.lower() != "mlrn":
            return cls(model, scale)
        return cls(
            model, scale, **{k: bool(overrides.get(f"model_options.{k}", True)) for k in ABLATION_FLAGS}
        )

    @property
    def flags(self) -> dict[str, bool]:
        return {k: getattr(self, k) for k in ABLATION_FLAGS}

    @property
    def learned(self) -> bool:
        return self.model.lower() in LEARNED_MODELS

    @property
    def run_id(self) -> str:
        """`mlrn-x2` for the full model, `mlrn-nl-x2` for the variant with only the non-local branch."""
        return f"{self.label}-x{self.scale}"

    @property
    def label(self) -> str:
        """The model column of evaluation rows: `mlrn`, `mlrn-nl`, `bicubic`, ..."""
        return variant_label(self.model, self.flags)

    def overrides(self) -> dict[str, Any]:
        """Profile overrides that select this variant (none for a full model)."""
        if all(self.flags.values()):
            return {}
        return {f"model_options.{k}": v for k, v in self.flags.items()}


def table1_specs() -> list[RunSpec]:
    """The four MLRN variants of the paper's Table 1, at its scale (srlib.core.paper.TABLE1_SCALE)."""
    from srlib.core.paper import TABLE1, TABLE1_SCALE

    return [RunSpec("mlrn", TABLE1_SCALE, **flags) for flags, _ in TABLE1]


def run_overrides(
    spec: RunSpec, seed: int | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The profile overrides a training of `spec` uses: its variant's switches, `overrides`, the seed."""
    opts = {**spec.overrides(), **dict(overrides or {})}
    if seed is not None:
        opts["seed"] = seed
    return opts


def profile_name(profile: str) -> str:
    """The name of a built-in profile or of a profile JSON file (its "name" field)."""
    from srlib.train import load_profile

    return str(load_profile(profile)["name"])


def results_root(profile: str, results_dir: PathLike = "") -> Path:
    """`results_dir` if given, else `<srlib.core.paths.results_dir()>/<profile name>` (`$SRLIB_RESULTS`)."""
    return Path(results_dir) if str(results_dir) else paths.results_dir() / profile_name(profile)


def opt_path(value: PathLike | None) -> Path | None:
    """A path parameter: "" (or None) means "the default place", passed on as None."""
    return Path(value) if value is not None and str(value) else None


def set_aside_superseded_run(
    out: Path, spec: RunSpec, profile: str, overrides: dict[str, Any]
) -> Path | None:
    """Rename `out` to `<out>.superseded-<its config hash>` when its config.json records another config than
    the one about to be trained; returns the new path (None when nothing was moved). Keeps the old weights for
    comparison instead of failing the step with "refusing to resume"."""
    from srlib.train.config import config_hash, resolve_config

    cfg_path = out / "config.json"
    if not cfg_path.is_file():
        return None
    old = json.loads(cfg_path.read_text(encoding="utf-8")).get("config_hash")
    if old == config_hash(resolve_config(spec.model, spec.scale, profile, overrides)):
        return None
    target = out.with_name(f"{out.name}.superseded-{old}")
    if target.exists():
        raise FileExistsError(f"cannot set aside {out}: {target} already exists; remove one of them")
    out.rename(target)
    print(f"{out} was trained with another config ({old}); set aside as {target.name}", flush=True)
    return target


class Runs:
    """The runs and evaluations of one profile in one results folder (see the module docstring).

    `data_dir` "" means `$SRLIB_DATA` or the checkout's data/. Methods with `train_missing` produce a missing
    run or evaluation first when it is True (a notebook run on its own) and otherwise raise
    MissingResultError naming the step that produces it (the pipeline never trains silently).
    """

    def __init__(self, profile: str, results_dir: PathLike = "", data_dir: PathLike = "") -> None:
        self.profile = profile
        self.name = profile_name(profile)
        self.root = Path(results_dir) if str(results_dir) else paths.results_dir() / self.name
        self.data_dir = opt_path(data_dir)

    def __repr__(self) -> str:
        return f"Runs({self.name!r}, root={str(self.root)!r})"

    # -- layout
    def run_dir(self, spec: RunSpec) -> Path:
        return self.root / "runs" / spec.run_id

    def summary_path(self, spec: RunSpec) -> Path:
        return self.run_dir(spec) / "summary.json"

    def eval_csv(self, spec: RunSpec) -> Path:
        return self.root / "eval" / f"{spec.run_id}.csv"

    def means_csv(self, spec: RunSpec) -> Path:
        csv = self.eval_csv(spec)
        return csv.with_name(f"{csv.stem}_means.csv")

    @property
    def data_record(self) -> Path:
        return self.root / "data.json"

    # -- training
    def train(
        self,
        spec: RunSpec,
        *,
        seed: int | None = None,
        resume: bool = True,
        overrides: Mapping[str, Any] | None = None,
        out_dir: PathLike = "",
    ) -> Any:
        """Train `spec` into its run folder (or `out_dir`); returns the `srlib.train.TrainSummary`. A finished
        run is returned as it is (training resumes, never restarts); a run folder trained with another config
        (the profile was edited) is set aside, not resumed or deleted."""
        from srlib.train import train

        out = opt_path(out_dir) or self.run_dir(spec)
        opts = run_overrides(spec, seed, overrides)
        if resume:
            set_aside_superseded_run(out, spec, self.profile, opts)
        return train(spec.model, spec.scale, self.profile, opts, out, resume=resume, data_dir=self.data_dir)

    def trained_weights(self, spec: RunSpec) -> Path | None:
        """The weights file the finished run of `spec` exported, or None if it has not finished (summary.json
        paths are relative to the run folder, so a copied results folder counts as finished)."""
        from srlib.train.summary import TrainSummary

        try:
            weights = Path(TrainSummary.read(self.summary_path(spec)).weights)
        except (OSError, ValueError, TypeError):
            return None
        return weights if weights.is_file() else None

    def weights(self, spec: RunSpec, *, train_missing: bool = False) -> Path:
        """The exported weights of `spec`'s run (trained first only with `train_missing`)."""
        path = self.trained_weights(spec)
        if path is None and train_missing:
            self.train(spec)
            path = self.trained_weights(spec)
        if path is None:
            raise MissingResultError(
                f"{spec.run_id}: no trained weights under {self.run_dir(spec)}; run notebook 01_train for "
                f"it (srlib replicate --profile {self.name} --results {self.root} --only "
                f"01_train-{spec.run_id}) or pass train_missing=True"
            )
        return path

    def model(self, spec: RunSpec, *, train_missing: bool = False) -> Any:
        """The trained model of `spec` (Bicubic needs no training), in eval mode on the CPU."""
        from srlib.models import build_model
        from srlib.weights import load_model

        if not spec.learned:
            return build_model(spec.model, spec.scale).eval()
        return load_model(self.weights(spec, train_missing=train_missing), model=spec.model, scale=spec.scale)

    def models(self, names: Iterable[str], scale: int, *, train_missing: bool = False) -> dict[str, Any]:
        """{display name: trained model} of the full models `names` at `scale` (Fig. 5's methods)."""
        return {
            DISPLAY_NAMES.get(m, m): self.model(RunSpec(m, scale), train_missing=train_missing) for m in names
        }

    def log(self, spec: RunSpec) -> list[dict[str, Any]]:
        """The training log records (log.jsonl) of `spec`'s run; empty if it has none."""
        from srlib.train.runlog import RunLog

        return RunLog(self.run_dir(spec) / "log.jsonl").records()

    def logs(self, names: Iterable[str], scales: Iterable[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
        """{scale: {display name: log records}} of the learned models among `names` (the training curves)."""
        names = list(names)
        return {
            s: {DISPLAY_NAMES.get(m, m): self.log(RunSpec(m, s)) for m in names if RunSpec(m, s).learned}
            for s in scales
        }

    # -- evaluation
    def evaluate(
        self,
        spec: RunSpec,
        sets: Iterable[str],
        *,
        weights: PathLike = "",
        out_csv: PathLike = "",
        train_missing: bool = False,
    ) -> Any:
        """Evaluate `spec` on `sets` (the profile's declared image subsets applied) and write the per-image
        rows to `out_csv` (default `eval_csv(spec)`, set means beside it); returns the rows. A learned model
        uses `weights`, else its run's exported weights. It runs on the CPU unless `$SRLIB_DEVICE` names a
        device (`srlib replicate --devices` sets it per step)."""
        import pandas as pd

        from srlib.core.coverage import CELL_COLUMNS, check_frame
        from srlib.core.device import device_override
        from srlib.evaluation import evaluate
        from srlib.train import eval_plan

        out = opt_path(out_csv) or self.eval_csv(spec)
        sets = list(sets)
        planned = pd.DataFrame(
            [{"model": spec.label, "scale": spec.scale, "set": s} for s in sets], columns=list(CELL_COLUMNS)
        )
        check_frame(out, planned)  # before any work: never replace an evaluation with one of fewer sets
        model: Any = spec.model.lower()
        if spec.learned:
            path = opt_path(weights) or self.weights(spec, train_missing=train_missing)

            def model(scale: int, path: Path = path) -> Any:
                from srlib.weights import load_model

                return load_model(path, model=spec.model, scale=scale)

        return evaluate(
            model,
            [spec.scale],
            sets,
            data_dir=self.data_dir,
            out_csv=out,
            progress=False,
            name=spec.label,
            device=device_override(),
            max_images=eval_plan(self.profile, spec.model)["max_images"],
        )

    def _rows(self, spec: RunSpec, sets: Sequence[str], train_missing: bool) -> Any:
        """`spec`'s evaluation rows covering `sets`, evaluated first only with `train_missing`; None if
        missing."""
        import pandas as pd

        csv = self.eval_csv(spec)
        if csv.is_file():
            rows = pd.read_csv(csv)
            if set(sets) <= set(rows["set"]):
                return rows
        return self.evaluate(spec, sets, train_missing=True) if train_missing else None

    def means(self, specs: Iterable[RunSpec], sets: Iterable[str], *, train_missing: bool = False) -> Any:
        """Set means of every spec's evaluation (columns run_id, model, set, scale, images, psnr, ssim);
        missing evaluations are all listed in one error."""
        import pandas as pd

        from srlib.evaluation import set_means

        sets = list(sets)
        frames, missing = [], []
        for spec in specs:
            rows = self._rows(spec, sets, train_missing)
            if rows is None:
                missing.append(spec.run_id)
                continue
            frames.append(set_means(rows[rows["set"].isin(sets)]).assign(run_id=spec.run_id))
        if missing:
            raise MissingResultError(
                f"no evaluation on {', '.join(sets)} under {self.root / 'eval'} for: {', '.join(missing)}; "
                f"run notebook 02_evaluate for them (srlib replicate --profile {self.name} --results "
                f"{self.root}) or pass train_missing=True"
            )
        out = pd.concat(frames, ignore_index=True)
        return out[["run_id", "model", "set", "scale", "images", "psnr", "ssim"]]

    # -- data
    def write_data_record(self, sets: Iterable[str], data_dir: PathLike | None = None) -> Path:
        """`data.json`: per set, the number of files and one sha256 over their names and hashes (the data
        hashes provenance.json reports, and an input of every training step)."""
        from srlib.core.coverage import check_json
        from srlib.weights import training_data_hashes

        where = opt_path(data_dir) or self.data_dir or paths.data_dir()
        record = {"sets": training_data_hashes(list(sets), where)}  # no path: the same data anywhere
        check_json(self.data_record, "sets", record["sets"])
        atomic.write_text(self.data_record, json.dumps(record, indent=2) + "\n")
        return self.data_record
