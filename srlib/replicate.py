"""The notebook pipeline: papermill runs the numbered notebooks in dependency order, skipping what is done.

Why content hashes rather than timestamps: a step is skipped only when its notebook, its parameters, the
files it reads and the srlib source are byte-for-byte what they were when it last succeeded, and its outputs
are still the files it wrote. A run interrupted at step k therefore resumes at step k, and a changed input
re-runs exactly the steps that read it (downstream keys include upstream outputs).

Parameters are checked twice: `Runner` refuses parameters a notebook does not declare before a kernel
starts, and every notebook calls `validate_params` in the cell after its `parameters` cell, so a mistyped
name given to papermill (or typed into the cell) fails loudly instead of being silently ignored.

Layout of one profile's results (`results/<profile>/`): `notebooks/` (executed copies), `steps/` (one record
per step: key, status, wall time, outputs), `provenance.json`, and what the notebooks write (see `RunSpec`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from srlib.core import atomic, paths
from srlib.core.provenance import device_info, git_state, package_versions, sha256_file

KERNEL_NAME = "srlib"
KERNEL_DISPLAY_NAME = "Python (srlib)"

# First line of every notebook's `parameters` cell: `validate_params` finds the cell in the kernel's history.
PARAMS_MARKER = "# Parameters of this notebook (papermill overrides them; the next cell validates them)"
# First line of the cell papermill injects after the `parameters` cell.
_INJECTED_MARKER = "# Parameters"

# The declared parameters of every notebook: name -> type (checked by `validate_params` and by `Runner`).
# An empty string for a path means "the default location" (srlib.core.paths / RunSpec).
_COMMON_PARAMS: dict[str, Any] = {"profile": str, "data_dir": str}
_RUN_PARAMS: dict[str, Any] = {
    "model": str,
    "scale": int,
    "non_local": bool,
    "second_order": bool,
    "multi_scale": bool,
}
NOTEBOOK_PARAMS: dict[str, dict[str, Any]] = {
    "00_data": {
        **_COMMON_PARAMS,
        "sets": list[str],
        "bicubic_sets": list[str],
        "scales": list[int],
        "mirror": str,
        "out_dir": str,
    },
    "01_train": {
        **_COMMON_PARAMS,
        **_RUN_PARAMS,
        "seed": int,
        "resume": bool,
        "overrides": dict[str, Any],
        "out_dir": str,
    },
    "02_evaluate": {
        **_COMMON_PARAMS,
        **_RUN_PARAMS,
        "sets": list[str],
        "weights": str,
        "out_csv": str,
        "train_missing": bool,
    },
    "03_table1_ablation": {**_COMMON_PARAMS, "results_dir": str, "train_missing": bool},
    "04_table2": {
        **_COMMON_PARAMS,
        "models": list[str],
        "scales": list[int],
        "sets": list[str],
        "results_dir": str,
        "train_missing": bool,
    },
    "05_figures": {
        **_COMMON_PARAMS,
        "models": list[str],
        "scales": list[int],
        "images": dict[str, str],
        "results_dir": str,
        "train_missing": bool,
    },
}


class ParameterError(ValueError):
    """A notebook got a parameter it does not declare, lacks one, or got one of the wrong type."""


class KernelError(RuntimeError):
    """The Jupyter kernel the pipeline needs is missing and cannot be registered, or is broken."""


class StepFailed(RuntimeError):
    """A pipeline step failed; the message names the step, notebook, cell and the executed copy's path."""


# ----------------------------------------------------------------------------------------------------
# Parameters


def _type_name(spec: Any) -> str:
    return getattr(spec, "__name__", None) if not typing.get_args(spec) else str(spec).replace("typing.", "")


def _matches(value: Any, spec: Any) -> bool:
    origin, args = typing.get_origin(spec), typing.get_args(spec)
    if spec is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    if spec is type(None):
        return value is None
    if spec is bool:
        return isinstance(value, bool)
    if spec is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if spec is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, spec)


def check_params(
    notebook: str, params: Mapping[str, Any], *, complete: bool, schema: Mapping | None = None
) -> None:
    """Raise ParameterError if `params` has names `notebook` does not declare or values of the wrong type.

    `complete=True` also requires every declared name (a notebook's full namespace); papermill's overrides are
    a subset (`complete=False`).
    """
    declared = NOTEBOOK_PARAMS[notebook] if schema is None else schema
    problems = []
    unknown = sorted(set(params) - set(declared))
    if unknown:
        problems.append(f"unknown parameter(s) {', '.join(unknown)}")
    if complete:
        missing = sorted(set(declared) - set(params))
        if missing:
            problems.append(f"missing parameter(s) {', '.join(missing)}")
    for name, value in params.items():
        if name in declared and not _matches(value, declared[name]):
            problems.append(f"{name}={value!r} is not of type {_type_name(declared[name])}")
    if problems:
        valid = ", ".join(f"{k}: {_type_name(v)}" for k, v in declared.items())
        raise ParameterError(f"notebook {notebook}: {'; '.join(problems)} (declared: {valid})")


def _assigned_names(source: str) -> list[str]:
    """Names assigned at top level in a parameters cell (plain `name = literal` lines)."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _parameter_cells(history: list[str]) -> tuple[str | None, str | None]:
    """(parameters cell, papermill's injected cell) just before the current cell in the kernel's history."""
    previous = history[-2::-1][:2]
    if previous and previous[0].startswith(_INJECTED_MARKER) and not previous[0].startswith(PARAMS_MARKER):
        declared = previous[1] if len(previous) > 1 and previous[1].startswith(PARAMS_MARKER) else None
        return declared, previous[0]
    if previous and previous[0].startswith(PARAMS_MARKER):
        return previous[0], None
    return None, None


def validate_params(
    notebook: str, namespace: Mapping[str, Any], schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check a notebook's parameters inside its kernel; call it in the cell right after the parameters cell.

    Every declared name must be defined with the declared type. When the cells before this one are the
    parameters cell (and papermill's injected cell), a name assigned there that the notebook does not declare
    (a typo such as `scal = 3`) is an error too. `schema` replaces NOTEBOOK_PARAMS[notebook] (for notebooks
    outside the pipeline). Returns the parameters, for the record.
    """
    declared = NOTEBOOK_PARAMS[notebook] if schema is None else schema
    history = namespace.get("In")
    cells = _parameter_cells(list(history)) if isinstance(history, list) else (None, None)
    assigned = [n for src in cells if src for n in _assigned_names(src)]
    params = {name: namespace[name] for name in declared if name in namespace}
    params.update({name: namespace[name] for name in assigned if name in namespace})
    check_params(notebook, params, complete=True, schema=declared)
    return params


# ----------------------------------------------------------------------------------------------------
# Content hashes


class Hasher:
    """sha256 of files and folders, cached by (size, mtime): an input shared by many steps is hashed once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int], str] = {}

    def file(self, path: Path) -> str:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._cache:
            self._cache[key] = sha256_file(path)
        return self._cache[key]

    def tree(self, path: Path) -> str:
        """A file's hash, or a folder's: the hash of its files' relative paths and hashes (hidden skipped)."""
        if path.is_file():
            return self.file(path)
        if not path.is_dir():
            raise FileNotFoundError(path)
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            rel = f.relative_to(path)
            if not any(part.startswith(".") for part in rel.parts):
                h.update(f"{rel.as_posix()}\0{self.file(f)}\n".encode())
        return h.hexdigest()


def source_version() -> str:
    """sha256 over srlib's own source and data files: any change to the library invalidates cached steps."""
    h = hashlib.sha256()
    for f in sorted(paths.PACKAGE_DIR.rglob("*")):
        if f.suffix in (".py", ".json", ".tsv") and "__pycache__" not in f.parts:
            h.update(f"{f.relative_to(paths.PACKAGE_DIR).as_posix()}\0".encode() + f.read_bytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------
# Kernel


def ensure_kernel(name: str = KERNEL_NAME, prefix: str | None = None) -> str:
    """Make sure Jupyter kernel `name` exists and runs a Python that can import srlib; return its directory.

    A missing kernel is registered into `prefix` (default: this environment, as `make setup` does with
    `ipykernel install --sys-prefix --name srlib`), so the pipeline never stops at "No such kernel".
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        target = prefix or sys.prefix
        print(f"Jupyter kernel {name!r} not found; registering it in {target}", flush=True)
        install(kernel_name=name, display_name=KERNEL_DISPLAY_NAME, prefix=target)
        try:
            spec = KernelSpecManager().get_kernel_spec(name)
        except NoSuchKernel as exc:
            raise KernelError(
                f"registered kernel {name!r} in {target} but Jupyter does not find it; check JUPYTER_PATH"
            ) from exc
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


# ----------------------------------------------------------------------------------------------------
# Steps and the runner


@dataclass(frozen=True)
class Step:
    """One notebook execution: `inputs` (files or folders) feed its key, `outputs` must exist after it."""

    id: str
    notebook: str
    params: dict[str, Any]
    inputs: tuple[Path, ...] = ()
    outputs: tuple[Path, ...] = ()
    after: tuple[str, ...] = ()


def order_steps(steps: Iterable[Step], only: Iterable[str] | None = None) -> list[Step]:
    """Steps in dependency order (stable for ties); with `only`, the named steps (ids or notebook names) and
    everything they depend on."""
    by_id = {s.id: s for s in steps}
    for s in by_id.values():
        missing = [d for d in s.after if d not in by_id]
        if missing:
            raise ValueError(f"step {s.id} depends on unknown step(s) {', '.join(missing)}")
    wanted = set(by_id)
    if only is not None:
        names = list(only)
        roots = [s.id for s in by_id.values() if s.id in names or s.notebook in names]
        unknown = [n for n in names if n not in by_id and all(s.notebook != n for s in by_id.values())]
        if unknown:
            valid = sorted({s.notebook for s in by_id.values()})
            raise ValueError(f"unknown step(s) {', '.join(unknown)}; steps: {', '.join(valid)} or step ids")
        wanted, stack = set(), roots
        while stack:
            sid = stack.pop()
            if sid not in wanted:
                wanted.add(sid)
                stack.extend(by_id[sid].after)
    ordered: list[Step] = []
    state: dict[str, int] = {}

    def visit(sid: str) -> None:
        if state.get(sid) == 2:
            return
        if state.get(sid) == 1:
            raise ValueError(f"dependency cycle through step {sid}")
        state[sid] = 1
        for dep in by_id[sid].after:
            visit(dep)
        state[sid] = 2
        ordered.append(by_id[sid])

    for sid in by_id:
        if sid in wanted:
            visit(sid)
    return ordered


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _pm(cell: Any) -> dict[str, Any]:
    return cell.get("metadata", {}).get("papermill", {})


def _failed_cell(nb_path: Path) -> tuple[int | None, str]:
    """(index, source) of the last cell papermill started in an executed copy: the one that failed, timed out
    or was running when the kernel died (papermill leaves `start_time` None for cells it never reached)."""
    import nbformat

    try:
        nb = nbformat.read(nb_path, as_version=4)
    except (OSError, ValueError):
        return None, ""
    started = [
        i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return (started[-1], nb.cells[started[-1]].source) if started else (None, "")


@dataclass
class Runner:
    """Executes steps with papermill into `<root>/notebooks/`, records them in `<root>/steps/`.

    `cell_timeout` is papermill's per-cell limit in seconds (None = none). `log` receives progress lines.
    `source` is the srlib source version that keys depend on (default: `source_version()`).
    """

    notebooks_dir: Path
    root: Path
    kernel: str = KERNEL_NAME
    cell_timeout: float | None = 3600
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: NOTEBOOK_PARAMS)
    log: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    progress_bar: bool = False
    provenance_extra: Callable[[], dict[str, Any]] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        self.hasher = Hasher()
        self.source = self.source or source_version()
        self._environment: dict[str, Any] | None = None

    def notebook_path(self, step: Step) -> Path:
        return self.notebooks_dir / f"{step.notebook}.ipynb"

    def executed_path(self, step: Step) -> Path:
        return self.root / "notebooks" / f"{step.id}.ipynb"

    def record_path(self, step: Step) -> Path:
        return self.root / "steps" / f"{step.id}.json"

    def key(self, step: Step) -> str:
        """The content hash that decides whether `step` must run again."""
        missing = [str(p) for p in step.inputs if not p.exists()]
        if missing:
            raise StepFailed(f"step {step.id}: input(s) missing: {', '.join(missing)}")
        payload = {
            "notebook": self.hasher.file(self.notebook_path(step)),
            "params": step.params,
            "inputs": {str(p): self.hasher.tree(p) for p in step.inputs},
            "srlib": self.source,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def record(self, step: Step) -> dict[str, Any] | None:
        try:
            return json.loads(self.record_path(step).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _outputs(self, step: Step) -> dict[str, str] | None:
        """Hashes of the step's outputs, or None if one is missing."""
        if not all(p.exists() for p in step.outputs):
            return None
        return {str(p): self.hasher.tree(p) for p in step.outputs}

    def up_to_date(self, step: Step, key: str) -> bool:
        rec = self.record(step)
        return bool(
            rec
            and rec.get("status") == "ok"
            and rec.get("key") == key
            and self.executed_path(step).exists()
            and rec.get("outputs") == self._outputs(step)
        )

    def _estimate(self, pending: list[Step], known: list[tuple[str, float]]) -> float | None:
        """Seconds left: each pending step's wall time when it last succeeded, else the mean of the `known`
        (notebook, wall time) pairs of the same notebook, else of all of them; None if nothing is known."""
        by_nb: dict[str, list[float]] = {}
        for notebook, wall in known:
            by_nb.setdefault(notebook, []).append(wall)
        every = [w for _, w in known]
        total = 0.0
        for step in pending:
            rec = self.record(step)
            if rec and rec.get("status") == "ok":
                total += float(rec["wall_s"])
            elif step.notebook in by_nb:
                total += sum(by_nb[step.notebook]) / len(by_nb[step.notebook])
            elif every:
                total += sum(every) / len(every)
            else:
                return None
        return total

    def run(self, steps: list[Step], force: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        """Run `steps` (already ordered) and return their records; raises StepFailed at the first failure.

        Step ids in `force` run even when up to date.
        """
        force = set(force)
        for step in steps:
            check_params(step.notebook, step.params, complete=False, schema=self.schemas.get(step.notebook))
            if not self.notebook_path(step).is_file():
                raise StepFailed(f"step {step.id}: notebook {self.notebook_path(step)} does not exist")
        ensure_kernel(self.kernel)
        start = time.monotonic()
        # wall times known so far: recorded successes of these steps, then this run's steps as they finish
        done = [
            (s.notebook, float(r["wall_s"])) for s in steps if (r := self.record(s)) and r["status"] == "ok"
        ]
        records: dict[str, dict[str, Any]] = {}
        n = len(steps)
        for k, step in enumerate(steps, 1):
            key = self.key(step)
            elapsed = time.monotonic() - start
            if step.id not in force and self.up_to_date(step, key):
                self.log(f"[{k}/{n}] {step.id}: up to date, skipped")
                records[step.id] = self.record(step) or {}
                continue
            left = self._estimate(steps[k - 1 :], done)
            self.log(
                f"[{k}/{n}] {step.id}: running {step.notebook}.ipynb "
                f"(elapsed {_fmt_duration(elapsed)}, estimated left {_fmt_duration(left)})"
            )
            t0 = time.monotonic()
            self._execute(step, key)
            wall = time.monotonic() - t0
            done.append((step.notebook, wall))
            outputs = self._outputs(step)
            if outputs is None:
                missing = [str(p) for p in step.outputs if not p.exists()]
                self._write_record(step, key, "failed", wall, error=f"outputs missing: {missing}")
                raise StepFailed(
                    f"step {step.id} ({step.notebook}.ipynb) produced no {', '.join(missing)}; "
                    f"executed copy: {self.executed_path(step)}"
                )
            records[step.id] = self._write_record(step, key, "ok", wall, outputs=outputs)
            self.log(f"[{k}/{n}] {step.id}: done in {_fmt_duration(wall)}")
        self.log(f"all {n} steps done in {_fmt_duration(time.monotonic() - start)}")
        return records

    def _execute(self, step: Step, key: str) -> None:
        """Run `step` into a hidden `.running` copy, renamed to the executed copy when it ends. Ctrl-C
        (KeyboardInterrupt) passes through: the step keeps its previous record and a re-run resumes there."""
        import papermill
        from papermill.exceptions import PapermillExecutionError

        final = self.executed_path(step)
        final.parent.mkdir(parents=True, exist_ok=True)
        running = final.with_name(f".{final.stem}.running.ipynb")
        t0 = time.monotonic()
        try:
            papermill.execute_notebook(
                str(self.notebook_path(step)),
                str(running),
                parameters=step.params,
                kernel_name=self.kernel,
                execution_timeout=self.cell_timeout,
                progress_bar=self.progress_bar,
                cwd=str(self.notebooks_dir),
            )
        except PapermillExecutionError as exc:
            self._fail(
                step,
                key,
                running,
                time.monotonic() - t0,
                exc.cell_index,
                exc.exec_count,
                f"{exc.ename}: {exc.evalue}",
                exc.source,
            )
        except Exception as exc:  # kernel death, cell timeout, failed start: find the cell in the copy
            cell, source = _failed_cell(running)
            message = str(exc).strip().splitlines()
            error = f"{type(exc).__name__}: {message[0] if message else ''}"
            self._fail(step, key, running, time.monotonic() - t0, cell, None, error, source)
        os.replace(running, final)

    def _fail(
        self,
        step: Step,
        key: str,
        running: Path,
        wall: float,
        cell: int | None,
        exec_count: int | None,
        error: str,
        source: str,
    ) -> None:
        final = self.executed_path(step)
        if running.exists():
            os.replace(running, final)
        where = (
            "before any cell ran"
            if cell is None
            else f"in cell {cell}" + (f" (In [{exec_count}])" if exec_count is not None else "")
        )
        line = source.strip().splitlines()[0] if source and source.strip() else ""
        self._write_record(step, key, "failed", wall, error=error, cell=cell)
        raise StepFailed(
            f"step {step.id} failed {where} of {step.notebook}.ipynb: {error}"
            + (f"\n  cell starts: {line}" if line else "")
            + f"\n  executed copy: {final}"
        )

    def _write_record(self, step: Step, key: str, status: str, wall: float, **extra: Any) -> dict[str, Any]:
        rec = {
            "step": step.id,
            "notebook": f"{step.notebook}.ipynb",
            "status": status,
            "key": key,
            "params": step.params,
            "wall_s": round(wall, 3),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "executed_notebook": str(self.executed_path(step)),
            **extra,
        }
        atomic.write_text(self.record_path(step), json.dumps(rec, indent=2, default=str) + "\n")
        self.write_provenance()
        return rec

    def write_provenance(self) -> Path:
        """`<root>/provenance.json`: environment, source version and every step record (rewritten after each
        step, so an interrupted run still documents what it did)."""
        steps = {}
        for f in sorted((self.root / "steps").glob("*.json")):
            try:
                rec = json.loads(f.read_text(encoding="utf-8"))
            except ValueError:
                continue
            steps[rec.get("step", f.stem)] = rec
        if self._environment is None:
            self._environment = {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "packages": package_versions(),
                "device": device_info(),
            }
        prov = {
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git": git_state(),
            "srlib_source_sha256": self.source,
            **self._environment,
            "kernel": self.kernel,
            "cell_timeout_s": self.cell_timeout,
            "seeds": {sid: r["params"]["seed"] for sid, r in steps.items() if "seed" in r.get("params", {})},
            "steps": steps,
            **(self.provenance_extra() if self.provenance_extra else {}),
        }
        path = self.root / "provenance.json"
        atomic.write_text(path, json.dumps(prov, indent=2, default=str) + "\n")
        return path


# ----------------------------------------------------------------------------------------------------
# Provenance helpers


# ----------------------------------------------------------------------------------------------------------
# Runs: where the notebooks put what they train and evaluate (one layout, shared by notebooks and pipeline)

LEARNED_MODELS: tuple[str, ...] = ("srcnn", "vdsr", "lapsrn", "memnet", "mlrn")
ABLATION_FLAGS: tuple[str, ...] = ("non_local", "second_order", "multi_scale")
_FLAG_ABBREV = {"non_local": "nl", "second_order": "so", "multi_scale": "ms"}


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
        flags = self.flags
        on = [_FLAG_ABBREV[k] for k, v in flags.items() if v]
        return self.model.lower() + ("" if all(flags.values()) else "-" + "-".join(on))

    def run_dir(self, root: Path) -> Path:
        return Path(root) / "runs" / self.run_id

    def summary_path(self, root: Path) -> Path:
        return self.run_dir(root) / "summary.json"

    def eval_csv(self, root: Path) -> Path:
        return Path(root) / "eval" / f"{self.run_id}.csv"

    def overrides(self) -> dict[str, Any]:
        """Profile overrides that select this variant (none for a full model)."""
        if all(self.flags.values()):
            return {}
        return {f"model_options.{k}": v for k, v in self.flags.items()}


def table1_specs() -> list[RunSpec]:
    """The four MLRN variants of the paper's Table 1, at its scale (srlib.core.paper.TABLE1_SCALE)."""
    from srlib.core.paper import TABLE1, TABLE1_SCALE

    return [RunSpec("mlrn", TABLE1_SCALE, **flags) for flags, _ in TABLE1]


def profile_name(profile: str) -> str:
    """The name of a built-in profile or of a profile JSON file (its "name" field)."""
    from srlib.train import load_profile

    return str(load_profile(profile)["name"])


def results_root(profile: str, results_dir: str | os.PathLike[str] = "") -> Path:
    """`results_dir` if given, else `<srlib.core.paths.results_dir()>/<profile name>` (`$SRLIB_RESULTS`)."""
    return Path(results_dir) if str(results_dir) else paths.results_dir() / profile_name(profile)


def run_overrides(
    spec: RunSpec, seed: int | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The profile overrides a training of `spec` uses: its variant's switches, `overrides`, the seed."""
    opts = {**spec.overrides(), **dict(overrides or {})}
    if seed is not None:
        opts["seed"] = seed
    return opts


def _opt_path(value: str | os.PathLike[str]) -> Path | None:
    return Path(value) if str(value) else None


def train_run(
    spec: RunSpec,
    profile: str,
    *,
    seed: int | None = None,
    resume: bool = True,
    overrides: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike[str] = "",
    data_dir: str | os.PathLike[str] = "",
    results_dir: str | os.PathLike[str] = "",
) -> Any:
    """Train `spec` with `profile` into its run folder (default `<results>/runs/<run_id>`); returns the
    `srlib.train.TrainSummary`. A finished run is returned as it is (training resumes, never restarts); a
    run folder trained with another config (the profile was edited) is set aside, not resumed or deleted."""
    from srlib.train import train

    out = _opt_path(out_dir) or spec.run_dir(results_root(profile, results_dir))
    opts = run_overrides(spec, seed, overrides)
    if resume:
        set_aside_superseded_run(Path(out), spec, profile, opts)
    return train(spec.model, spec.scale, profile, opts, out, resume=resume, data_dir=_opt_path(data_dir))


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
        raise StepFailed(f"cannot set aside {out}: {target} already exists; remove one of them")
    out.rename(target)
    print(f"{out} was trained with another config ({old}); set aside as {target.name}", flush=True)
    return target


def trained_weights(spec: RunSpec, root: Path) -> Path | None:
    """The weights file a finished run of `spec` under `root` exported, or None if it has not finished."""
    try:
        summary = json.loads(spec.summary_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    weights = Path(summary.get("weights", ""))
    return weights if weights.is_file() else None


class MissingResultError(FileNotFoundError):
    """A notebook needs a run or an evaluation that has not been produced (and may not produce it)."""


def run_weights(
    spec: RunSpec,
    profile: str,
    *,
    data_dir: str | os.PathLike[str] = "",
    results_dir: str | os.PathLike[str] = "",
    train_missing: bool = False,
) -> Path:
    """The exported weights of `spec`'s run; a missing run is trained first only with `train_missing=True`
    (a notebook run on its own), otherwise MissingResultError names the step that produces it."""
    root = results_root(profile, results_dir)
    path = trained_weights(spec, root)
    if path is None and train_missing:
        train_run(spec, profile, data_dir=data_dir, results_dir=results_dir)
        path = trained_weights(spec, root)
    if path is None:
        raise MissingResultError(
            f"{spec.run_id}: no trained weights under {spec.run_dir(root)}; run notebook 01_train for it "
            f"(srlib replicate --profile {profile} --only 01_train-{spec.run_id}) or pass train_missing=True"
        )
    return path


def evaluate_run(
    spec: RunSpec,
    profile: str,
    *,
    sets: Iterable[str],
    weights: str | os.PathLike[str] = "",
    out_csv: str | os.PathLike[str] = "",
    data_dir: str | os.PathLike[str] = "",
    results_dir: str | os.PathLike[str] = "",
    train_missing: bool = False,
) -> Any:
    """Evaluate `spec` on `sets` (the profile's declared image subsets applied) and write the per-image rows
    to `out_csv` (default `<results>/eval/<run_id>.csv`, set means beside it); returns the rows.

    A learned model uses `weights`, else its run's exported weights; a missing run is trained first only with
    `train_missing=True` (a notebook run on its own), otherwise it is an error naming the step to run.
    """
    from srlib.evaluation import evaluate
    from srlib.train import eval_plan

    root = results_root(profile, results_dir)
    model: Any = spec.model.lower()
    if spec.learned:
        path = _opt_path(weights) or run_weights(
            spec, profile, data_dir=data_dir, results_dir=results_dir, train_missing=train_missing
        )

        def model(scale: int, path: Path = path) -> Any:
            from srlib.weights import load_model

            return load_model(path, model=spec.model, scale=scale)

    out = _opt_path(out_csv) or spec.eval_csv(root)
    return evaluate(
        model,
        [spec.scale],
        list(sets),
        data_dir=_opt_path(data_dir),
        out_csv=out,
        progress=False,
        name=spec.label,
        max_images=eval_plan(profile, spec.model)["max_images"],
    )


def collect_means(
    specs: Iterable[RunSpec],
    profile: str,
    sets: Iterable[str],
    *,
    data_dir: str | os.PathLike[str] = "",
    results_dir: str | os.PathLike[str] = "",
    train_missing: bool = False,
) -> Any:
    """Set means of every spec's evaluation (columns run_id, model, set, scale, images, psnr, ssim).

    Evaluations that are missing, or lack one of `sets`, are produced only with `train_missing=True`;
    otherwise the error lists every missing one.
    """
    import pandas as pd

    from srlib.evaluation import set_means

    root = results_root(profile, results_dir)
    sets = list(sets)
    frames, missing = [], []
    for spec in specs:
        rows = None
        csv = spec.eval_csv(root)
        if csv.is_file():
            rows = pd.read_csv(csv)
            if not set(sets) <= set(rows["set"]):
                rows = None
        if rows is None and train_missing:
            rows = evaluate_run(
                spec, profile, sets=sets, data_dir=data_dir, results_dir=results_dir, train_missing=True
            )
        if rows is None:
            missing.append(spec.run_id)
            continue
        frames.append(set_means(rows[rows["set"].isin(sets)]).assign(run_id=spec.run_id))
    if missing:
        raise MissingResultError(
            f"no evaluation on {', '.join(sets)} under {root / 'eval'} for: {', '.join(missing)}; run "
            f"notebook 02_evaluate for them (srlib replicate --profile {profile}) or pass train_missing=True"
        )
    out = pd.concat(frames, ignore_index=True)
    return out[["run_id", "model", "set", "scale", "images", "psnr", "ssim"]]


def write_data_record(sets: Iterable[str], data_dir: str | os.PathLike[str], out_dir: Path) -> Path:
    """`<out_dir>/data.json`: per set, the number of files and one sha256 over their names and hashes (the
    data hashes provenance.json reports, and an input of every training step)."""
    from srlib.weights import training_data_hashes

    record = {"data_dir": str(data_dir), "sets": training_data_hashes(list(sets), _opt_path(data_dir))}
    path = Path(out_dir) / "data.json"
    atomic.write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def load_run_model(
    spec: RunSpec,
    profile: str,
    *,
    data_dir: str | os.PathLike[str] = "",
    results_dir: str | os.PathLike[str] = "",
    train_missing: bool = False,
) -> Any:
    """The trained model of `spec` (Bicubic needs no training), in eval mode on the CPU."""
    from srlib.models import build_model
    from srlib.weights import load_model

    if not spec.learned:
        return build_model(spec.model, spec.scale).eval()
    path = run_weights(spec, profile, data_dir=data_dir, results_dir=results_dir, train_missing=train_missing)
    return load_model(path, model=spec.model, scale=spec.scale)


def run_log(spec: RunSpec, root: Path) -> list[dict[str, Any]]:
    """The training log records (log.jsonl) of `spec`'s run under `root`; empty if it has none."""
    from srlib.train.runlog import RunLog

    return RunLog(spec.run_dir(root) / "log.jsonl").records()


# ----------------------------------------------------------------------------------------------------------
# The pipeline: which notebook runs with which parameters, for a profile

# Per-cell limits (seconds): a training cell of the paper profile runs for days on one GPU.
CELL_TIMEOUTS: dict[str, float] = {"smoke": 900, "quick": 3 * 3600, "paper": 14 * 24 * 3600}
# Fig. 5: one image per scale from Set5, Set14 and BSD100, as the paper's Section 4.4 describes (it does not
# name them); "<set>/<image name>".
FIGURE_IMAGES: dict[int, str] = {2: "Set5/butterfly", 3: "Set14/zebra", 4: "BSD100/img_092"}
# Sets 00_data checks against the paper's Bicubic row, if the profile evaluates them (Table 2 has all).
BICUBIC_CHECK_SETS: tuple[str, ...] = ("Set5", "Set14", "BSD100", "Urban100")


def _absolute_profile(profile: str) -> str:
    """A profile given as a JSON path made absolute (the notebooks run in notebooks/); names unchanged."""
    from srlib.train.config import PROFILE_NAMES

    return profile if profile in PROFILE_NAMES else str(Path(profile).resolve())


def plan(
    profile: str,
    scales: Sequence[int] = (2, 3, 4),
    *,
    results_dir: str | os.PathLike[str] = "",
    data_dir: str | os.PathLike[str] = "",
    mirror: str | os.PathLike[str] = "",
) -> list[Step]:
    """Every step of the replication for `profile` at `scales`, in dependency order: data; one training
    and one evaluation per learned model and scale (plus Table 1's three partial MLRN variants at x2);
    Bicubic evaluations; Table 1 (only when x2 is planned), Table 2 and the figures."""
    from srlib.core.paper import TABLE1_SCALE, TABLE2_MODELS, TEST_SETS
    from srlib.train import eval_plan, load_profile, resolve_config

    profile = _absolute_profile(profile)
    prof = load_profile(profile)
    scales = sorted(dict.fromkeys(int(s) for s in scales))
    if not scales or any(s not in (2, 3, 4) for s in scales):
        raise ValueError(f"scales must be among 2, 3, 4; got {scales}")
    # absolute paths: the notebooks run with notebooks/ as their working directory
    root = results_root(profile, results_dir).resolve()
    data = str((Path(data_dir) if str(data_dir) else paths.data_dir()).resolve())
    eval_sets = list(dict.fromkeys(s for m in TABLE2_MODELS for s in eval_plan(profile, m)["sets"]))
    eval_sets.sort(key=lambda s: TEST_SETS.index(s) if s in TEST_SETS else len(TEST_SETS))
    train_sets = []
    for m in LEARNED_MODELS:
        cfg = resolve_config(m, scales[0], profile)
        train_sets += [*cfg["data"]["train_sets"], cfg["validation"]["set"]]
    images = {s: FIGURE_IMAGES[s] for s in scales}
    figure_sets = [img.split("/")[0] for img in images.values()]
    prep_sets = list(dict.fromkeys([*eval_sets, *figure_sets, *train_sets]))
    data_json = root / "data.json"
    common = {"profile": profile, "data_dir": data}
    steps = [
        Step(
            "00_data",
            "00_data",
            {
                **common,
                "sets": prep_sets,
                "bicubic_sets": [s for s in BICUBIC_CHECK_SETS if s in eval_sets],
                "scales": scales,
                "mirror": str(Path(mirror).resolve()) if str(mirror) else "",
                "out_dir": str(root),
            },
            outputs=(data_json, *(Path(data) / s for s in prep_sets)),
        )
    ]
    specs = [RunSpec(m, s) for s in scales for m in TABLE2_MODELS]
    if TABLE1_SCALE in scales:
        specs += [v for v in table1_specs() if v not in specs]
    for spec in specs:
        flags = {"model": spec.model, "scale": spec.scale, **spec.flags}
        inputs: tuple[Path, ...] = (data_json,)
        after = ("00_data",)
        if spec.learned:
            steps.append(
                Step(
                    f"01_train-{spec.run_id}",
                    "01_train",
                    {
                        **common,
                        **flags,
                        "seed": int(prof["defaults"]["seed"]),
                        "resume": True,
                        "overrides": {},
                        "out_dir": str(spec.run_dir(root)),
                    },
                    inputs=(data_json,),
                    outputs=(spec.summary_path(root),),
                    after=after,
                )
            )
            inputs, after = (data_json, spec.summary_path(root)), (*after, f"01_train-{spec.run_id}")
        csv = spec.eval_csv(root)
        steps.append(
            Step(
                f"02_evaluate-{spec.run_id}",
                "02_evaluate",
                {
                    **common,
                    **flags,
                    "sets": eval_plan(profile, spec.model)["sets"],
                    "weights": "",
                    "out_csv": str(csv),
                    "train_missing": False,
                },
                inputs=inputs,
                outputs=(csv, csv.with_name(f"{csv.stem}_means.csv")),
                after=after,
            )
        )
    aggregate = {**common, "results_dir": str(root), "train_missing": False}
    if TABLE1_SCALE in scales:
        t1 = table1_specs()
        steps.append(
            Step(
                "03_table1_ablation",
                "03_table1_ablation",
                aggregate,
                inputs=tuple(v.eval_csv(root) for v in t1),
                outputs=tuple(root / f"table1.{ext}" for ext in ("csv", "md", "tex")),
                after=tuple(f"02_evaluate-{v.run_id}" for v in t1),
            )
        )
    table2_specs = [RunSpec(m, s) for s in scales for m in TABLE2_MODELS]
    steps.append(
        Step(
            "04_table2",
            "04_table2",
            {**aggregate, "models": list(TABLE2_MODELS), "scales": scales, "sets": eval_sets},
            inputs=tuple(v.eval_csv(root) for v in table2_specs),
            outputs=(
                *(root / f"table2.{ext}" for ext in ("csv", "md", "tex")),
                root / "models.csv",
                root / "models.md",
            ),
            after=tuple(f"02_evaluate-{v.run_id}" for v in table2_specs),
        )
    )
    learned = [v for v in table2_specs if v.learned]
    steps.append(
        Step(
            "05_figures",
            "05_figures",
            {
                **aggregate,
                "models": list(TABLE2_MODELS),
                "scales": scales,
                "images": {str(s): img for s, img in images.items()},
            },
            inputs=tuple(v.summary_path(root) for v in learned),
            outputs=(*figure_paths(root, scales),),
            after=tuple(f"01_train-{v.run_id}" for v in learned),
        )
    )
    return steps


def figure_paths(root: Path, scales: Iterable[int]) -> list[Path]:
    """The PNGs 05_figures writes: one visual comparison per scale and the training curves."""
    return [
        *(Path(root) / "figures" / f"fig5_x{s}.png" for s in scales),
        Path(root) / "figures" / "curves.png",
    ]


def pipeline_provenance(profile: str, root: Path, steps: Sequence[Step]) -> dict[str, Any]:
    """What provenance.json adds for the pipeline: the profile file and its hash, every training config's
    hash (srlib.train.config_hash) and the data hashes 00_data recorded."""
    from srlib.train import config_hash, resolve_config
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
    return {
        "profile": {
            "name": profile_name(profile),
            "file": str(prof_file),
            "sha256": sha256_file(prof_file),
        },
        "config_hashes": configs,
        "data": data,
    }


def run_pipeline(
    profile: str,
    scales: Sequence[int] = (2, 3, 4),
    *,
    only: Sequence[str] | None = None,
    force: bool = False,
    results_dir: str | os.PathLike[str] = "",
    data_dir: str | os.PathLike[str] = "",
    mirror: str | os.PathLike[str] = "",
    cell_timeout: float | None = None,
    kernel: str = KERNEL_NAME,
    progress_bar: bool = False,
    log: Callable[[str], None] = lambda line: print(line, flush=True),
) -> dict[str, dict[str, Any]]:
    """Plan and run the replication (see `plan`); `only` restricts it to the named steps (notebook names or
    step ids) and what they depend on; `force` re-runs the selected steps even if up to date."""
    notebooks = notebooks_dir()
    profile = _absolute_profile(profile)
    steps = plan(profile, scales, results_dir=results_dir, data_dir=data_dir, mirror=mirror)
    selected = order_steps(steps, only)
    name = profile_name(profile)
    root = results_root(profile, results_dir).resolve()
    targets = [s.id for s in selected if only is None or s.id in only or s.notebook in only]
    runner = Runner(
        notebooks,
        root,
        kernel=kernel,
        cell_timeout=CELL_TIMEOUTS.get(name, 3600) if cell_timeout is None else cell_timeout,
        log=log,
        progress_bar=progress_bar,
        provenance_extra=lambda: pipeline_provenance(profile, root, selected),
    )
    log(f"replicate: profile {name}, scales {list(scales)}, {len(selected)} steps, results in {root}")
    return runner.run(selected, force=targets if force else ())


def notebooks_dir() -> Path:
    """The checkout's notebooks/ (the pipeline runs from a source checkout, where the notebooks live)."""
    root = paths.repo_root()
    if root is None:
        raise FileNotFoundError(
            "srlib replicate runs the notebooks of a source checkout (notebooks/*.ipynb); this srlib is a "
            "plain install without them: clone the repository and run `make replicate` there"
        )
    return root / "notebooks"


def comparison_figure(
    scale: int,
    image: str,
    models: Sequence[str],
    profile: str,
    *,
    data_dir: str | os.PathLike[str] = "",
    results_dir: str | os.PathLike[str] = "",
    train_missing: bool = False,
) -> Any:
    """Fig. 5 for one scale: `image` ("<set>/<name>") super-resolved by every model in `models`, the crop
    picked by `srlib.reports.figures.pick_crop`, each crop labelled with the whole image's PSNR/SSIM."""
    from srlib.core.imresize import modcrop
    from srlib.core.paper import DISPLAY_NAMES
    from srlib.data.benchmark import set_files
    from srlib.data.images import load_image
    from srlib.evaluation import is_single_channel_file
    from srlib.reports import figures

    set_name, _, name = image.partition("/")
    files = {p.stem: p for p in set_files(set_name, _opt_path(data_dir))}
    if name not in files:
        raise ValueError(f"image {name!r} is not in {set_name}; it has {', '.join(sorted(files)[:8])}, ...")
    hr = modcrop(load_image(files[name]), scale)
    nets = {
        DISPLAY_NAMES.get(m, m): load_run_model(
            RunSpec(m, scale),
            profile,
            data_dir=data_dir,
            results_dir=results_dir,
            train_missing=train_missing,
        )
        for m in models
    }
    results = figures.compare_methods(nets, hr, scale, grayscale=is_single_channel_file(files[name]))
    box = figures.pick_crop(hr, max(24, min(hr.shape[:2]) // 4), margin=8 * scale)
    return figures.visual_comparison(hr, results, box, f"{image} x{scale} ({profile_name(profile)} profile)")


def curves_figure(
    models: Sequence[str], scales: Sequence[int], profile: str, *, results_dir: str | os.PathLike[str] = ""
) -> Any:
    """Training loss and validation PSNR of every learned model's run, one column per scale."""
    from srlib.core.paper import DISPLAY_NAMES
    from srlib.reports import figures

    root = results_root(profile, results_dir)
    logs = {
        s: {DISPLAY_NAMES.get(m, m): run_log(RunSpec(m, s), root) for m in models if RunSpec(m, s).learned}
        for s in scales
    }
    return figures.training_curves(logs, profile_name(profile))
