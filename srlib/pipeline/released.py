"""The authors' released weights evaluated once, reused while their inputs are unchanged.

`evaluate_released(name, sets, root)` scores the released model `name` (`srlib.released.RELEASES`: srcnn,
srcnn-915, vdsr, lapsrn; all of its scales) on `sets` into

    <root>/eval/released-<name>.csv         per-image rows   (srlib.evaluation.evaluate)
    <root>/eval/released-<name>_means.csv   set means
    <root>/eval/released-<name>.json        the record: what the rows were computed from

Why a record: VDSR at full resolution on BSD100 and Urban100 at three scales is most of an hour on a 2-core
CPU, and the result does not depend on any training profile. The evaluation is reused (the committed means
returned, nothing scored) while the record's inputs match the request: the weights' sha256 (the manifest's
pins, which `load_released` checks the files against), the protocol, the sets and image limits, the scales,
and `code`, one sha256 over the srlib source files the evaluation runs (the import closure of
`srlib.released` and `srlib.evaluation`, `srlib.pipeline.keys.SourceIndex`). Otherwise it says why and
evaluates again. The record holds no absolute path, so a copied results folder is reused alike.

Command line (runs in the background; the lead's way to produce `results/released/`):

    python -m srlib.pipeline.released --name vdsr --sets Set5 Set14 BSD100 Urban100 \\
        --root results/released --data-dir DATA --weights-dir WEIGHTS
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srlib.core import atomic

PathLike = str | os.PathLike[str]
CODE_ROOTS: tuple[str, ...] = ("srlib.released", "srlib.evaluation")
RECORD_VERSION = 1


def label(name: str) -> str:
    """The model column of a released model's evaluation rows and its file stem: `released-<name>`."""
    from srlib.reports.compare import released_label

    return released_label(name)


def rows_csv(root: PathLike, name: str) -> Path:
    return Path(root) / "eval" / f"{label(name)}.csv"


def means_csv(root: PathLike, name: str) -> Path:
    from srlib.evaluation import means_path

    return means_path(rows_csv(root, name))


def record_path(root: PathLike, name: str) -> Path:
    return Path(root) / "eval" / f"{label(name)}.json"


def code_hash() -> str:
    """sha256 over {file: sha256} of the srlib files the released evaluation runs (`CODE_ROOTS`' closure)."""
    from srlib.pipeline.keys import SourceIndex

    index = SourceIndex()
    digest = index.digest(index.closure(CODE_ROOTS))
    return hashlib.sha256(json.dumps(digest, sort_keys=True).encode()).hexdigest()


def weights_sha256(name: str) -> dict[str, str]:
    """{file relative to the weights folder: sha256} of the release's files, as the manifest pins them."""
    from srlib.released import weights_sha256 as pinned

    return pinned(name)


def _limits(sets: Sequence[str], max_images: int | Mapping[str, int] | None) -> dict[str, int] | None:
    """`max_images` as {set: n}: an int applies to every set; None or empty means every image."""
    if max_images is None:
        return None
    if isinstance(max_images, Mapping):
        out = {str(k): int(v) for k, v in max_images.items() if v}
    else:
        out = {s: int(max_images) for s in sets} if max_images else {}
    return dict(sorted(out.items())) or None


def inputs(
    name: str,
    sets: Sequence[str],
    *,
    protocol: str = "standard",
    scales: Sequence[int] | None = None,
    max_images: int | Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """What an evaluation of `name` is computed from: the part of the record that decides reuse."""
    from srlib.core.protocol import check_protocol
    from srlib.released import release

    rel = release(name)
    sets = list(dict.fromkeys(sets))
    if not sets:
        raise ValueError("evaluate_released: give at least one set")
    scales = [int(s) for s in (scales or rel.scales)]
    lacking = [s for s in scales if s not in rel.scales]
    if lacking:
        raise ValueError(f"released {rel.name} has no x{lacking[0]} model; scales: {list(rel.scales)}")
    return {
        "name": rel.name,
        "weights": weights_sha256(rel.name),
        "protocol": check_protocol(protocol),
        "scales": scales,
        "sets": sets,
        "max_images": _limits(sets, max_images),
        "code": code_hash(),
    }


def read_record(root: PathLike, name: str) -> dict[str, Any] | None:
    """The record of `name`'s evaluation under `root`, or None (missing or unreadable)."""
    try:
        record = json.loads(record_path(root, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _covers(record: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """What of `wanted` the record does not cover: a changed input, or sets (or image limits) it lacks. A
    record of more sets covers a request for fewer, with the same limits on those."""
    changed = [k for k in wanted if k not in ("sets", "max_images") and record.get(k) != wanted[k]]
    sets = list(record.get("sets") or [])
    if not set(wanted["sets"]) <= set(sets):
        changed.append("sets")
    limits = {k: v for k, v in (record.get("max_images") or {}).items() if k in wanted["sets"]}
    if limits != (wanted["max_images"] or {}):
        changed.append("max_images")
    return changed


def stale_reason(root: PathLike, name: str, wanted: Mapping[str, Any]) -> str | None:
    """Why the committed evaluation of `name` under `root` cannot be reused for `wanted` (None: it can)."""
    from srlib.core.provenance import sha256_file

    record = read_record(root, name)
    if record is None:
        return f"no readable record {record_path(root, name)}"
    changed = _covers(record, wanted)
    if changed:
        return f"{', '.join(changed)} changed since the record"
    if not record.get("outputs"):
        return "the record names no outputs"
    base = record_path(root, name).parent
    for rel, digest in record["outputs"].items():
        path = base / rel
        if not path.is_file() or sha256_file(path) != digest:
            return f"{path} is missing or not the file the record names"
    return None


def _read_means(root: Path, name: str, sets: Sequence[str]) -> Any:
    import pandas as pd

    means = pd.read_csv(means_csv(root, name))
    return means[means["set"].isin(list(sets))].reset_index(drop=True)


def write_record(root: Path, name: str, wanted: Mapping[str, Any], wall_s: float) -> dict[str, Any]:
    """Record the rows and means now under `root` as computed from `wanted` (written last, atomically)."""
    from srlib.core.provenance import commit_label, sha256_file

    outputs = {p.name: sha256_file(p) for p in (rows_csv(root, name), means_csv(root, name))}
    record = {
        "version": RECORD_VERSION,
        **wanted,
        "outputs": outputs,  # relative to the record's folder
        "commit": commit_label(),
        "wall_s": round(wall_s, 1),
    }
    atomic.write_text(record_path(root, name), json.dumps(record, indent=2) + "\n")
    return record


def evaluate_released(
    name: str,
    sets: Sequence[str],
    root: PathLike,
    *,
    data_dir: PathLike | None = None,
    weights_dir: PathLike | None = None,
    protocol: str = "standard",
    scales: Sequence[int] | None = None,
    max_images: int | Mapping[str, int] | None = None,
    device: str | None = None,
    progress: bool = True,
    force: bool = False,
) -> Any:
    """Set means (columns `srlib.evaluation.MEAN_COLUMNS`, model `released-<name>`) of release `name` on
    `sets` at `scales` (default: all of the release's), reused from `<root>/eval/` when its record matches
    (see the module docstring; `force` evaluates anyway). `max_images`: n or {set: n}, the first n images."""
    import pandas as pd

    from srlib.core.coverage import CELL_COLUMNS, check_frame
    from srlib.data.weights_manifest import prepare_weights
    from srlib.evaluation import evaluate
    from srlib.released import load_released

    root = Path(root)
    wanted = inputs(name, sets, protocol=protocol, scales=scales, max_images=max_images)
    tag = f"released {wanted['name']} ({wanted['protocol']}; {', '.join(wanted['sets'])})"
    reason = "forced" if force else stale_reason(root, name, wanted)
    if reason is None:
        print(f"{tag}: reusing {means_csv(root, name)} (record matches)", flush=True)
        return _read_means(root, name, wanted["sets"])
    print(f"{tag}: evaluating into {rows_csv(root, name)} ({reason})", flush=True)
    planned = pd.DataFrame(
        [{"model": label(name), "scale": s, "set": t} for s in wanted["scales"] for t in wanted["sets"]],
        columns=list(CELL_COLUMNS),
    )
    check_frame(rows_csv(root, name), planned)  # before any scoring: never replace with fewer cells
    prepare_weights(list(wanted["weights"]), weights_dir, progress=progress)  # kept when already verified

    def model(scale: int) -> Any:
        return load_released(wanted["name"], scale, weights_dir, device=device or "cpu")

    start = time.perf_counter()
    evaluate(
        model, wanted["scales"], wanted["sets"], data_dir=data_dir, out_csv=rows_csv(root, name),
        device=device, progress=progress, name=label(name), max_images=wanted["max_images"],
        protocol=wanted["protocol"],
    )  # fmt: skip
    write_record(root, name, wanted, time.perf_counter() - start)
    return _read_means(root, name, wanted["sets"])


# ----------------------------------------------------------------------------------------------------------
# Where a profile's Table 2 finds the released rows


def table2_releases() -> tuple[str, ...]:
    """The releases that are a Table 2 method's weights (srcnn, vdsr, lapsrn), in `RELEASES` order."""
    from srlib.released import RELEASES

    return tuple(n for n, r in RELEASES.items() if r.paper_model)


@dataclass(frozen=True)
class ReleasedPlan:
    """Where and on what a profile's released evaluation of one model runs. `from_full`: the profile's
    image subset (`max_images`) is read from the rows of the full evaluation in `root`, not evaluated."""

    root: Path
    sets: list[str]
    max_images: dict[str, int] | None
    from_full: bool = False


def full_root() -> Path:
    """The one full-set evaluation of the released weights: `<srlib.core.paths.results_dir()>/released`."""
    from srlib.core import paths

    return paths.results_dir() / "released"


def released_plan(name: str, profile: str, profile_root: PathLike) -> ReleasedPlan:
    """The released evaluation does not depend on training, so it runs once, on every image of every test
    set, into `full_root()`, and every profile reads it: a full-coverage profile (paper) as it is, a profile
    that declares fewer sets or an image subset (smoke; quick: Urban100's first 20) as the means over exactly
    the images it scores its own trainings on (like for like). Only when that full evaluation is missing or
    stale (its record does not match: other code, weights or protocol) does a subset profile evaluate its
    subset itself, into `<profile_root>/released`, so a subset never replaces the full evaluation."""
    from srlib.core.paper import TABLE2_MODELS, TEST_SETS
    from srlib.released import release
    from srlib.train import eval_plan

    sets = list(dict.fromkeys(s for m in TABLE2_MODELS for s in eval_plan(profile, m)["sets"]))
    model = release(name).paper_model or release(name).model
    limits = {k: int(v) for k, v in eval_plan(profile, model)["max_images"].items() if k in sets} or None
    if set(TEST_SETS) <= set(sets) and not limits:
        return ReleasedPlan(full_root(), list(TEST_SETS), None)
    if stale_reason(full_root(), name, inputs(name, sets)) is None:
        return ReleasedPlan(full_root(), sets, limits, from_full=True)
    return ReleasedPlan(Path(profile_root) / "released", sets, limits)


def subset_rows(rows: Any, sets: Sequence[str], max_images: Mapping[str, int] | None) -> Any:
    """The per-image `rows` of `sets`, only the first n images (manifest order, as `srlib.evaluation`
    selects them) of each set that `max_images` limits to n."""
    from srlib.data.manifest import entries

    rows = rows[rows["set"].isin(list(sets))]
    for set_name, n in (max_images or {}).items():
        keep = {Path(e.name).stem for e in entries([set_name])[: int(n)]}
        rows = rows[(rows["set"] != set_name) | rows["image"].astype(str).isin(keep)]
    return rows.reset_index(drop=True)


def _plan_rows(plan: ReleasedPlan, name: str, sets: Sequence[str]) -> Any:
    import pandas as pd

    limits = plan.max_images if plan.from_full else None
    return subset_rows(pd.read_csv(rows_csv(plan.root, name)), sets, limits)


def _plan_means(plan: ReleasedPlan, name: str, sets: Sequence[str]) -> Any:
    from srlib.evaluation import set_means

    return set_means(_plan_rows(plan, name, sets)) if plan.from_full else _read_means(plan.root, name, sets)


def outputs(name: str, profile: str, profile_root: PathLike) -> tuple[Path, ...]:
    """The files a profile's released step writes or reads (rows, means, record)."""
    root = released_plan(name, profile, profile_root).root
    return rows_csv(root, name), means_csv(root, name), record_path(root, name)


def _wanted(plan: ReleasedPlan, name: str, sets: Sequence[str]) -> dict[str, Any]:
    """The record inputs `plan` needs on `sets` (the full evaluation's when the plan reads from it)."""
    limits = None if plan.from_full else {k: v for k, v in (plan.max_images or {}).items() if k in sets}
    return inputs(name, sets, max_images=limits or None)


def evaluate_for(runs: Any, name: str, sets: Sequence[str] | None = None, *, progress: bool = False) -> Any:
    """The released evaluation of `name` for `runs`' profile (`released_plan`; `sets` default: the plan's),
    reused or computed; returns its per-image rows on `sets` (02_evaluate's `released` step)."""
    plan = released_plan(name, runs.profile, runs.root)
    sets = list(sets or plan.sets)
    wanted = _wanted(plan, name, sets)
    evaluate_released(
        name, sets, plan.root, data_dir=runs.data_dir, max_images=wanted["max_images"], progress=progress
    )
    return _plan_rows(plan, name, sets)


def means_for(
    runs: Any, names: Sequence[str], sets: Sequence[str], *, train_missing: bool = False
) -> tuple[Any, dict[str, dict[str, Any]]]:
    """(set means, {name: record}) of the released models `names` on `sets` for `runs`' profile. A missing or
    stale evaluation is computed only with `train_missing`; otherwise MissingResultError lists them all with
    the step that produces each. A record read for a subset says so (`subset`: {set: n})."""
    import pandas as pd

    from srlib.pipeline.runs import MissingResultError

    frames, records, missing = [], {}, []
    for name in names:
        plan = released_plan(name, runs.profile, runs.root)
        reason = stale_reason(plan.root, name, _wanted(plan, name, sets))
        if reason is not None and not train_missing:
            missing.append(f"02_evaluate-released-{name} ({reason})")
            continue
        if reason is not None:
            evaluate_for(runs, name, sets)
        frames.append(_plan_means(plan, name, sets))
        where = Path(os.path.relpath(plan.root, runs.root)).as_posix()  # relative: relocatable captions
        subset = {k: v for k, v in (plan.max_images or {}).items() if k in sets} if plan.from_full else {}
        records[name] = {**(read_record(plan.root, name) or {}), "where": where, "subset": subset}
    if missing:
        raise MissingResultError(
            f"released evaluations missing or out of date for {runs.name}: {'; '.join(missing)}; run them "
            f"(srlib replicate --profile {runs.name} --results {runs.root}) or pass train_missing=True"
        )
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), records


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m srlib.pipeline.released --name vdsr --sets Set5 ... --root DIR` (module docstring)."""
    from srlib.released import RELEASE_NAMES

    parser = argparse.ArgumentParser(
        prog="python -m srlib.pipeline.released", description="Evaluate the authors' released weights once."
    )
    parser.add_argument("--name", nargs="+", required=True, choices=RELEASE_NAMES, help="released model(s)")
    parser.add_argument("--sets", nargs="+", required=True, help="test sets (Set5 Set14 BSD100 Urban100)")
    parser.add_argument("--root", required=True, help="results folder; writes <root>/eval/released-<name>.*")
    parser.add_argument("--data-dir", help="benchmark data folder (default $SRLIB_DATA)")
    parser.add_argument("--weights-dir", help="released weights folder (default $SRLIB_WEIGHTS)")
    parser.add_argument("--protocol", default="standard", choices=("standard", "authors"))
    parser.add_argument("--scales", nargs="+", type=int, help="default: all of the release's scales")
    parser.add_argument("--max-images", type=int, help="only the first N images of each set")
    parser.add_argument("--device", help="cpu, cuda, ... (default cpu)")
    parser.add_argument("--force", action="store_true", help="evaluate even when the record matches")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        for name in args.name:
            means = evaluate_released(
                name, args.sets, args.root, data_dir=args.data_dir, weights_dir=args.weights_dir,
                protocol=args.protocol, scales=args.scales, max_images=args.max_images, device=args.device,
                progress=not args.no_progress, force=args.force,
            )  # fmt: skip
            print(means.to_string(index=False), flush=True)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
