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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from srlib import atomic, paths

KERNEL_NAME = "srlib"
KERNEL_DISPLAY_NAME = "Python (srlib)"

# First line of every notebook's `parameters` cell: `validate_params` finds the cell in the kernel's history.
PARAMS_MARKER = "# Parameters of this notebook (papermill overrides them; the next cell validates them)"
# First line of the cell papermill injects after the `parameters` cell.
_INJECTED_MARKER = "# Parameters"

# The declared parameters of every notebook: name -> type (checked by `validate_params` and by `Runner`).
# An empty string for a path means "the default location" (srlib.paths / RunSpec).
_DATA_PARAMS: dict[str, Any] = {"profile": str, "data_dir": str}
_RUN_PARAMS: dict[str, Any] = {
    "model": str,
    "scale": int,
    "non_local": bool,
    "second_order": bool,
    "multi_scale": bool,
}
NOTEBOOK_PARAMS: dict[str, dict[str, Any]] = {
    "00_data": {**_DATA_PARAMS, "sets": list[str], "scales": list[int], "mirror": str, "out_dir": str},
    "01_train": {
        **_DATA_PARAMS,
        **_RUN_PARAMS,
        "seed": int,
        "resume": bool,
        "overrides": dict[str, Any],
        "out_dir": str,
    },
    "02_evaluate": {
        **_DATA_PARAMS,
        **_RUN_PARAMS,
        "sets": list[str],
        "weights": str,
        "out_csv": str,
        "train_missing": bool,
    },
    "03_table1_ablation": {**_DATA_PARAMS, "sets": list[str], "results_dir": str, "train_missing": bool},
    "04_table2": {
        **_DATA_PARAMS,
        "models": list[str],
        "scales": list[int],
        "sets": list[str],
        "results_dir": str,
        "train_missing": bool,
    },
    "05_figures": {
        **_DATA_PARAMS,
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


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Hasher:
    """sha256 of files and folders, cached by (size, mtime): an input shared by many steps is hashed once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int], str] = {}

    def file(self, path: Path) -> str:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._cache:
            self._cache[key] = _sha256_file(path)
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

    def _estimate(self, pending: list[Step], done: list[tuple[str, float]]) -> float | None:
        """Seconds left: each pending step's last recorded wall time, else the mean of this run's steps of the
        same notebook, else of all steps run so far; None before anything is known."""
        by_nb: dict[str, list[float]] = {}
        for notebook, wall in done:
            by_nb.setdefault(notebook, []).append(wall)
        every = [w for _, w in done]
        total = 0.0
        for step in pending:
            rec = self.record(step)
            if rec and rec.get("wall_s") is not None:
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
        done: list[tuple[str, float]] = []
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


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the checkout srlib runs from (None outside a git checkout)."""
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

    status = git("status", "--porcelain", "--untracked-files=no")
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
