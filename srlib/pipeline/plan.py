"""This paper's plan: which notebook runs with which parameters for a profile, and `run_pipeline`.

Steps, in order: 00_data (prepare + verify data, Bicubic check), 01_train (one per learned model and scale,
plus Table 1's three partial MLRN variants at x2), 02_evaluate (one per run and Bicubic, and one per released
Table 2 model, `02_evaluate-released-<name>`: the authors' weights, reused from its folder while its record
matches, `srlib.pipeline.released`), 03_table1_ablation (only when x2 is planned), 04_table2, 05_figures.
Every step gets the results folder (`results_dir`), so the notebooks find what the steps before them wrote
there, whatever the working directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from srlib.core import paths
from srlib.core.paper import ABLATION_FLAGS, SCALES, TABLE1_SCALE, TABLE2_MODELS, TEST_SETS
from srlib.core.provenance import sha256_file
from srlib.pipeline.kernel import KERNEL_NAME
from srlib.pipeline.lock import ResultsLock
from srlib.pipeline.runner import Runner, Step, order_steps
from srlib.pipeline.runs import LEARNED_MODELS, Runs, RunSpec, results_root, run_overrides, table1_specs

# Per-cell limits (seconds): a training cell of the paper profile runs for days on one GPU.
CELL_TIMEOUTS: dict[str, float] = {"smoke": 900, "quick": 3 * 3600, "paper": 14 * 24 * 3600}
# Fig. 5: one image per scale from Set5, Set14 and BSD100, as the paper's Section 4.4 describes (it does not
# name them); "<set>/<image name>".
FIGURE_IMAGES: dict[int, str] = {2: "Set5/butterfly", 3: "Set14/zebra", 4: "BSD100/img_092"}
# Sets 00_data checks against the paper's Bicubic row, if the profile evaluates them (Table 2 has all).
BICUBIC_CHECK_SETS: tuple[str, ...] = TEST_SETS

# What 04_table2 writes into the results folder.
TABLE2_FILES: tuple[str, ...] = ("table2.csv", "table2.md", "table2.tex", "models.csv", "models.md")

PathLike = str | os.PathLike[str]


def absolute_profile(profile: str) -> str:
    """A profile given as a JSON path made absolute (the notebooks run in notebooks/); names unchanged."""
    from srlib.train.config import PROFILE_NAMES

    return profile if profile in PROFILE_NAMES else str(Path(profile).resolve())


def _profile_inputs(profile: str) -> tuple[Path, ...]:
    """A profile file outside srlib is an input of every step (a built-in one is part of srlib's source)."""
    from srlib.train.config import PROFILE_NAMES, profile_path

    return () if profile in PROFILE_NAMES else (profile_path(profile),)


def _eval_sets(profile: str) -> list[str]:
    """Every test set some model is evaluated on by `profile`, in the paper's order."""
    from srlib.train import eval_plan

    sets = list(dict.fromkeys(s for m in TABLE2_MODELS for s in eval_plan(profile, m)["sets"]))
    return sorted(sets, key=lambda s: TEST_SETS.index(s) if s in TEST_SETS else len(TEST_SETS))


def _data_step(
    runs: Runs, scales: list[int], common: dict[str, Any], mirror: PathLike, extra: tuple[Path, ...]
) -> Step:
    """00_data: every set a later step reads (test, figure, training and validation sets)."""
    from srlib.train import resolve_config

    eval_sets = _eval_sets(runs.profile)
    train_sets = []
    for m in LEARNED_MODELS:
        cfg = resolve_config(m, scales[0], runs.profile)
        train_sets += [*cfg["data"]["train_sets"], cfg["validation"]["set"]]
    figure_sets = [FIGURE_IMAGES[s].split("/")[0] for s in scales]
    prep_sets = list(dict.fromkeys([*eval_sets, *figure_sets, *train_sets]))
    params = {
        **common,
        "sets": prep_sets,
        "bicubic_sets": [s for s in BICUBIC_CHECK_SETS if s in eval_sets],
        "scales": scales,
        "mirror": str(Path(mirror).resolve()) if str(mirror) else "",
    }
    data = Path(common["data_dir"])
    return Step("00_data", "00_data", params, extra, (runs.data_record, *(data / s for s in prep_sets)))


def _run_steps(
    runs: Runs, specs: list[RunSpec], common: dict[str, Any], extra: tuple[Path, ...]
) -> list[Step]:
    """01_train for every learned spec and 02_evaluate for every spec."""
    from srlib.train import eval_plan, load_profile

    seed = int(load_profile(runs.profile)["defaults"]["seed"])
    steps = []
    for spec in specs:
        flags = {"model": spec.model, "scale": spec.scale, **spec.flags}
        inputs, after = (runs.data_record, *extra), ("00_data",)
        if spec.learned:
            train = {**common, **flags, "seed": seed, "resume": True, "overrides": {}, "out_dir": ""}
            tid = f"01_train-{spec.run_id}"
            steps.append(Step(tid, "01_train", train, inputs, (runs.summary_path(spec),), after))
            inputs, after = (*inputs, runs.summary_path(spec)), (*after, tid)
        sets = eval_plan(runs.profile, spec.model)["sets"]
        evaluate = {**common, **flags, "sets": sets, "weights": "", "out_csv": "", "train_missing": False,
                    "released": ""}  # fmt: skip
        outputs = (runs.eval_csv(spec), runs.means_csv(spec))
        steps.append(Step(f"02_evaluate-{spec.run_id}", "02_evaluate", evaluate, inputs, outputs, after))
    return steps


def _released_steps(runs: Runs, common: dict[str, Any], extra: tuple[Path, ...]) -> list[Step]:
    """02_evaluate-released-<name> for every release that is a Table 2 method's weights: all its scales, on
    the sets and in the folder `released.released_plan` gives the profile."""
    from srlib.pipeline import released
    from srlib.released import release

    steps = []
    for name in released.table2_releases():
        where = released.released_plan(name, runs.profile, runs.root)
        rel = release(name)  # model / scale: unused with `released`, given so the parameters are complete
        spec = RunSpec(rel.model, rel.scales[0])
        params = {**common, "model": spec.model, "scale": spec.scale, **spec.flags, "sets": where.sets,
                  "weights": "", "out_csv": "", "train_missing": False, "released": name}  # fmt: skip
        outputs = released.outputs(name, runs.profile, runs.root)
        inputs = (runs.data_record, *extra)
        step_id = f"02_evaluate-released-{name}"
        steps.append(Step(step_id, "02_evaluate", params, inputs, outputs, ("00_data",)))
    return steps


def _aggregate_steps(
    runs: Runs, scales: list[int], common: dict[str, Any], extra: tuple[Path, ...], released_steps: list[Step]
) -> list[Step]:
    """03_table1_ablation (with x2), 04_table2 and 05_figures."""
    from srlib.reports.figures import figure_paths

    aggregate = {**common, "train_missing": False}
    root, steps = runs.root, []
    if TABLE1_SCALE in scales:
        t1 = table1_specs()
        steps.append(Step(
            "03_table1_ablation", "03_table1_ablation", aggregate,
            inputs=(*extra, *(runs.eval_csv(v) for v in t1)),
            outputs=tuple(root / f"table1.{ext}" for ext in ("csv", "md", "tex")),
            after=tuple(f"02_evaluate-{v.run_id}" for v in t1),
        ))  # fmt: skip
    t2 = [RunSpec(m, s) for s in scales for m in TABLE2_MODELS]
    rel = [s for s in released_steps if s.params["released"]]
    table2 = {**aggregate, "models": list(TABLE2_MODELS), "scales": scales, "sets": _eval_sets(runs.profile),
              "released": [s.params["released"] for s in rel]}  # fmt: skip
    steps.append(Step(
        "04_table2", "04_table2", table2,
        inputs=(*extra, *(runs.eval_csv(v) for v in t2), *(s.outputs[1] for s in rel)),
        outputs=tuple(root / name for name in TABLE2_FILES),
        after=(*(f"02_evaluate-{v.run_id}" for v in t2), *(s.id for s in rel)),
    ))  # fmt: skip
    learned = [v for v in t2 if v.learned]
    images = {str(s): FIGURE_IMAGES[s] for s in scales}
    figures = {**aggregate, "models": list(TABLE2_MODELS), "scales": scales, "images": images}
    steps.append(Step(
        "05_figures", "05_figures", figures,
        inputs=(*extra, *(runs.summary_path(v) for v in learned)),
        outputs=tuple(figure_paths(root, scales)),
        after=tuple(f"01_train-{v.run_id}" for v in learned),
    ))  # fmt: skip
    return steps


def plan(
    profile: str,
    scales: Sequence[int] = SCALES,
    *,
    results_dir: PathLike = "",
    data_dir: PathLike = "",
    mirror: PathLike = "",
) -> list[Step]:
    """Every step of the replication for `profile` at `scales`, in dependency order (module docstring)."""
    profile = absolute_profile(profile)
    scales = sorted(dict.fromkeys(int(s) for s in scales))
    if not scales or any(s not in SCALES for s in scales):
        raise ValueError(f"scales must be among {', '.join(map(str, SCALES))}; got {scales}")
    # absolute paths: the notebooks run with notebooks/ as their working directory
    runs = Runs(profile, results_root(profile, results_dir).resolve())
    data = str((Path(data_dir) if str(data_dir) else paths.data_dir()).resolve())
    common = {"profile": profile, "data_dir": data, "results_dir": str(runs.root)}
    extra = _profile_inputs(profile)
    specs = [RunSpec(m, s) for s in scales for m in TABLE2_MODELS]
    if TABLE1_SCALE in scales:
        specs += [v for v in table1_specs() if v not in specs]
    data_step = _data_step(runs, scales, common, mirror, extra)
    released = _released_steps(runs, common, extra)
    return [
        data_step,
        *_run_steps(runs, specs, common, extra),
        *released,
        *_aggregate_steps(runs, scales, common, extra, released),
    ]


def pipeline_provenance(profile: str, root: Path, steps: Sequence[Step]) -> dict[str, Any]:
    """What provenance.json adds for the pipeline: the profile file and its hash, every training config's
    hash (srlib.train.config_hash) and the data hashes 00_data recorded."""
    from srlib.train import config_hash, load_profile, resolve_config
    from srlib.train.config import profile_path

    prof_file = profile_path(profile)
    configs = {}
    for step in steps:
        if step.notebook == "01_train":
            p = step.params
            spec = RunSpec(p["model"], p["scale"], **{k: p[k] for k in ABLATION_FLAGS})
            overrides = run_overrides(spec, p["seed"], p["overrides"])
            configs[spec.run_id] = config_hash(resolve_config(spec.model, spec.scale, profile, overrides))
    try:
        data = json.loads((root / "data.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    name = str(load_profile(profile)["name"])
    return {
        "profile": {"name": name, "file": str(prof_file), "sha256": sha256_file(prof_file)},
        "config_hashes": configs,
        "data": data,
    }


def notebooks_dir() -> Path:
    """The checkout's notebooks/ (the pipeline runs from a source checkout, where the notebooks live)."""
    root = paths.repo_root()
    if root is None:
        raise FileNotFoundError(
            "srlib replicate runs the notebooks of a source checkout (notebooks/*.ipynb); this srlib is a "
            "plain install without them: clone the repository and run `make replicate` there"
        )
    return root / "notebooks"


def anchors(data_dir: PathLike = "", mirror: PathLike = "") -> dict[str, Path]:
    """The folders whose paths keys and records store relative to them: the data folder, the mirror and
    the checkout (the results folder is the runner's own)."""
    found = {"data": (Path(data_dir) if str(data_dir) else paths.data_dir()).resolve()}
    if str(mirror):
        found["mirror"] = Path(mirror).resolve()
    checkout = paths.repo_root()
    if checkout is not None:
        found["checkout"] = checkout
    return found


def make_runner(
    profile: str,
    results_dir: PathLike = "",
    *,
    data_dir: PathLike = "",
    mirror: PathLike = "",
    kernel: str = KERNEL_NAME,
    **options: Any,
) -> tuple[Runner, Path]:
    """The Runner of `profile`'s results folder (and that folder), as `run_pipeline` and `--list` use it."""
    root = results_root(absolute_profile(profile), results_dir).resolve()
    where = anchors(data_dir, mirror)
    return Runner(notebooks_dir(), root, kernel=kernel, anchors=where, **options), root


def run_pipeline(
    profile: str,
    scales: Sequence[int] = SCALES,
    *,
    only: Sequence[str] | None = None,
    force: bool = False,
    results_dir: PathLike = "",
    data_dir: PathLike = "",
    mirror: PathLike = "",
    cell_timeout: float | None = None,
    kernel: str = KERNEL_NAME,
    progress_bar: bool = False,
    log: Callable[[str], None] = lambda line: print(line, flush=True),
    devices: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Plan and run the replication (see `plan`); `only` restricts it to the named steps (notebook names or
    step ids) and what they depend on; `force` re-runs the selected steps even if up to date. With `devices`
    independent steps run concurrently, one per device (Runner.run_on_devices); without, a profile that
    pins `runtime.threads` on a CPU runs cores // threads steps at once (`workers.default_devices`). The
    results folder is locked while it runs (`srlib.pipeline.lock`): a second run on it fails at once."""
    from srlib.core.device import resolve_device
    from srlib.pipeline import workers

    for device in devices or ():
        resolve_device(device)  # an absent GPU fails here, in one line, before any step starts
    profile = absolute_profile(profile)
    threads = workers.profile_threads(profile)
    devices = workers.default_devices(profile) if devices is None else devices
    steps = plan(profile, scales, results_dir=results_dir, data_dir=data_dir, mirror=mirror)
    selected = order_steps(steps, only)
    name = Runs(profile, results_dir).name
    root = results_root(profile, results_dir).resolve()
    targets = [s.id for s in selected if only is None or s.id in only or s.notebook in only]
    timeout = CELL_TIMEOUTS.get(name, 3600) if cell_timeout is None else cell_timeout
    runner, _ = make_runner(
        profile, results_dir, data_dir=data_dir, mirror=mirror, kernel=kernel, cell_timeout=timeout, log=log,
        progress_bar=progress_bar and not devices, threads=threads,
        provenance_extra=lambda: pipeline_provenance(profile, root, selected),
    )  # fmt: skip
    with ResultsLock(root):  # one writer per results folder
        on = f", on {' '.join(devices)}" if devices else ""
        on += f", {threads} torch thread(s) per step (runtime.threads)" if threads else ""
        log(f"replicate: profile {name}, scales {list(scales)}, {len(selected)} steps{on}, results in {root}")
        return runner.run(selected, force=targets if force else (), devices=devices)
