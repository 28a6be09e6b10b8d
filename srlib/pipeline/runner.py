"""The step runner: papermill executes notebook steps in dependency order, skipping what is done.

Why content hashes rather than timestamps: a step is skipped only when its notebook, its parameters, the files
it reads and the srlib modules its notebook imports (`keys.SourceIndex`) are byte-for-byte what they were when
it last succeeded, and its outputs are still the files it wrote. A run interrupted at step k therefore resumes
at step k, and a changed input re-runs exactly the steps that read it (downstream keys include upstream
outputs).

Layout under the runner's root (one profile's results folder): `notebooks/` (executed copies), `steps/` (one
record per step: key, status, wall time, outputs) and `provenance.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from srlib.core import atomic, paths
from srlib.core.device import DEVICE_ENV
from srlib.core.provenance import device_info, git_state, package_versions
from srlib.pipeline.kernel import KERNEL_ARGS, KERNEL_NAME, ensure_kernel, kernel_env
from srlib.pipeline.keys import Hasher, SourceIndex, changes, notebook_digest, portable
from srlib.pipeline.params import NOTEBOOK_PARAMS, check_params
from srlib.pipeline.workers import thread_env


class StepFailed(RuntimeError):
    """A pipeline step failed; the message names the step, notebook, cell and the executed copy's path."""


@dataclass(frozen=True)
class Step:
    """One notebook execution: `inputs` (files or folders) feed its key, `outputs` must exist after it."""

    id: str
    notebook: str
    params: dict[str, Any]
    inputs: tuple[Path, ...] = ()
    outputs: tuple[Path, ...] = ()
    after: tuple[str, ...] = ()


def _select(by_id: Mapping[str, Step], only: Iterable[str] | None) -> set[str]:
    """Ids of the steps named in `only` (ids or notebook names) and everything they depend on."""
    if only is None:
        return set(by_id)
    names = list(only)
    roots = [s.id for s in by_id.values() if s.id in names or s.notebook in names]
    unknown = [n for n in names if n not in by_id and all(s.notebook != n for s in by_id.values())]
    if unknown:
        valid = sorted({s.notebook for s in by_id.values()})
        raise ValueError(f"unknown step(s) {', '.join(unknown)}; steps: {', '.join(valid)} or step ids")
    wanted: set[str] = set()
    stack = roots
    while stack:
        sid = stack.pop()
        if sid not in wanted:
            wanted.add(sid)
            stack.extend(by_id[sid].after)
    return wanted


def order_steps(steps: Iterable[Step], only: Iterable[str] | None = None) -> list[Step]:
    """Steps in dependency order (stable for ties); with `only`, the named steps (ids or notebook names) and
    everything they depend on."""
    by_id = {s.id: s for s in steps}
    for s in by_id.values():
        missing = [d for d in s.after if d not in by_id]
        if missing:
            raise ValueError(f"step {s.id} depends on unknown step(s) {', '.join(missing)}")
    wanted = _select(by_id, only)
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


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


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


def _environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "device": device_info(),
    }


@dataclass
class _RunState:
    """One `Runner.run`: its steps, forced ids, start time, (notebook, wall) pairs known, the ids finished
    so far and how many steps run at once (for the estimate)."""

    steps: list[Step]
    force: set[str]
    start: float
    done: list[tuple[str, float]]
    parallel: int = 1
    finished: set[str] = field(default_factory=set)


@dataclass
class Runner:
    """Executes steps with papermill into `<root>/notebooks/`, records them in `<root>/steps/`.

    `cell_timeout` is papermill's per-cell limit in seconds (None = none). `log` receives progress lines.
    `package_dir` is the srlib source the keys hash (each notebook's import closure in it). `anchors` name
    folders (data, checkout, ...) whose paths keys and records store as `<name>/...`, like the results
    folder itself (`<results>/...`): a results folder copied or cloned elsewhere stays up to date.
    """

    notebooks_dir: Path
    root: Path
    kernel: str = KERNEL_NAME
    cell_timeout: float | None = 3600
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: NOTEBOOK_PARAMS)
    log: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    progress_bar: bool = False
    provenance_extra: Callable[[], dict[str, Any]] | None = None
    package_dir: Path = paths.PACKAGE_DIR
    anchors: Mapping[str, Path] = field(default_factory=dict)
    threads: int | None = None  # torch threads of each kernel (srlib.pipeline.workers); None: torch's own

    def __post_init__(self) -> None:
        self.anchors = {"srlib": self.package_dir, **self.anchors, "results": self.root}
        self.hasher = Hasher()
        self.sources = SourceIndex(self.package_dir, self.hasher)
        self._modules: dict[Path, set[str]] = {}
        self._environment: dict[str, Any] | None = None
        self._lock = threading.RLock()

    def notebook_path(self, step: Step) -> Path:
        return self.notebooks_dir / f"{step.notebook}.ipynb"

    def executed_path(self, step: Step) -> Path:
        return self.root / "notebooks" / f"{step.id}.ipynb"

    def record_path(self, step: Step) -> Path:
        return self.root / "steps" / f"{step.id}.json"

    def modules(self, step: Step) -> set[str]:
        """The srlib modules `step`'s notebook imports, transitively."""
        nb = self.notebook_path(step)
        if nb not in self._modules:
            self._modules[nb] = self.sources.notebook_modules(nb)
        return self._modules[nb]

    def key_payload(self, step: Step) -> dict[str, Any]:
        """What `key` hashes: the notebook, parameters, input hashes and the srlib files the notebook uses."""
        missing = [str(p) for p in step.inputs if not p.exists()]
        if missing:
            raise StepFailed(f"step {step.id}: input(s) missing: {', '.join(missing)}")
        return {
            "notebook": notebook_digest(self.notebook_path(step)),
            "params": self.portable(step.params),
            "inputs": {self.portable(p): self.hasher.tree(p) for p in step.inputs},
            "srlib": self.sources.digest(self.modules(step)),
        }

    def portable(self, value: Any) -> Any:
        """`value` with absolute paths under the anchors written as `<anchor>/...` (keys.portable)."""
        return portable(value, self.anchors)

    def key(self, step: Step) -> str:
        """The content hash that decides whether `step` must run again."""
        payload = json.dumps(self.key_payload(step), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    def record(self, step: Step) -> dict[str, Any] | None:
        try:
            return json.loads(self.record_path(step).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _outputs(self, step: Step) -> dict[str, str] | None:
        """Hashes of the step's outputs, or None if one is missing."""
        if not all(p.exists() for p in step.outputs):
            return None
        return {self.portable(p): self.hasher.tree(p) for p in step.outputs}

    def up_to_date(self, step: Step, key: str) -> bool:
        rec = self.record(step)
        return bool(
            rec
            and rec.get("status") == "ok"
            and rec.get("key") == key
            and self.executed_path(step).exists()
            and rec.get("outputs") == self._outputs(step)
        )

    def explain(self, step: Step) -> str:
        """ "up to date", or "to run: <why>" (never ran, failed, which input / parameter / srlib file /
        output changed): what `srlib replicate --list` prints."""
        try:
            payload = self.key_payload(step)
        except StepFailed as exc:
            return f"to run: {str(exc).split(': ', 1)[-1]} (not produced yet)"
        rec = self.record(step)
        if rec is None:
            return "to run: never ran here"
        if rec.get("status") != "ok":
            return f"to run: its last run {rec.get('status')}"
        reasons = []
        if "key_parts" in rec:
            reasons += changes(rec["key_parts"], payload)
        elif rec.get("key") != self.key(step):
            reasons.append("its record is from an older srlib (no key parts)")
        if not self.executed_path(step).exists():
            reasons.append("the executed notebook is missing")
        outputs = self._outputs(step)
        if outputs is None:
            missing = [self.portable(p) for p in step.outputs if not p.exists()]
            reasons.append(f"output(s) {', '.join(missing)} missing")
        elif outputs != rec.get("outputs"):
            old = rec.get("outputs") or {}
            reasons.append(f"output(s) {', '.join(k for k in outputs if old.get(k) != outputs[k])} changed")
        return "to run: " + "; ".join(reasons) if reasons else "up to date"

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

    def _check(self, steps: list[Step]) -> None:
        """Refuse undeclared parameters and missing notebooks before a kernel starts."""
        for step in steps:
            check_params(step.notebook, step.params, complete=False, schema=self.schemas.get(step.notebook))
            if not self.notebook_path(step).is_file():
                raise StepFailed(f"step {step.id}: notebook {self.notebook_path(step)} does not exist")

    def run(
        self, steps: list[Step], force: Iterable[str] = (), devices: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Run `steps` (already ordered) and return their records; raises StepFailed at the first failure.

        Step ids in `force` run even when up to date. With `devices` (e.g. ["cuda:0", "cuda:1"]), independent
        steps run concurrently, one per device, each kernel with `$SRLIB_DEVICE` set to its device
        (`run_on_devices`).
        """
        self._check(steps)
        ensure_kernel(self.kernel)
        # text progress bars: an executed notebook's widgets render only when trusted (srlib/core/progress.py)
        os.environ.setdefault("SRLIB_PROGRESS", "text")
        # wall times known so far: recorded successes of these steps, then this run's steps as they finish
        done = [
            (s.notebook, float(r["wall_s"])) for s in steps if (r := self.record(s)) and r["status"] == "ok"
        ]
        state = _RunState(steps, set(force), time.monotonic(), done, len(devices) if devices else 1)
        if devices:
            records = self.run_on_devices(state, devices)
        else:
            records = {step.id: self._step(state, k, step, None) for k, step in enumerate(steps, 1)}
        self.log(f"all {len(steps)} steps done in {fmt_duration(time.monotonic() - state.start)}")
        return records

    def run_on_devices(self, state: _RunState, devices: Sequence[str]) -> dict[str, dict[str, Any]]:
        """`state.steps` concurrently, one per device (srlib.pipeline.schedule); a failure stops its
        dependents, independent steps go on, and every failure is reported in one StepFailed at the end."""
        from srlib.pipeline.schedule import run_scheduled

        index = {s.id: k for k, s in enumerate(state.steps, 1)}
        outcome = run_scheduled(state.steps, devices, lambda s, d: self._step(state, index[s.id], s, d))
        if len(outcome.failures) == 1 and not outcome.blocked:
            (exc,) = outcome.failures.values()
            raise exc
        if outcome.failures:
            failed = [outcome.failures[s.id] for s in state.steps if s.id in outcome.failures]  # plan order
            for exc in failed:
                if not isinstance(exc, StepFailed):
                    raise exc
            lines = [str(exc) for exc in failed]
            if outcome.blocked:
                lines.append(f"not run (a step they depend on failed): {', '.join(outcome.blocked)}")
            raise StepFailed("\n".join(lines))
        return {s.id: outcome.results[s.id] for s in state.steps}

    def _step(self, state: _RunState, k: int, step: Step, device: str | None) -> dict[str, Any]:
        """Skip `step` (the k-th of `state.steps`) if up to date, else run it (on `device` if given)."""
        n = len(state.steps)
        key = self.key(step)
        if step.id not in state.force and self.up_to_date(step, key):
            self.log(f"[{k}/{n}] {step.id}: up to date, skipped")
            state.finished.add(step.id)
            return self.record(step) or {}
        pending = [s for s in state.steps[k - 1 :] if s.id not in state.finished]
        left = self._estimate(pending, state.done)
        left = None if left is None else left / min(state.parallel, max(len(pending), 1))
        on = f" on {device}" if device else ""
        elapsed = fmt_duration(time.monotonic() - state.start)
        self.log(
            f"[{k}/{n}] {step.id}: running {step.notebook}.ipynb{on} (elapsed {elapsed}, "
            f"estimated left {fmt_duration(left)})"
        )
        record = self._run_step(step, key, state.done, device)
        state.finished.add(step.id)
        self.log(f"[{k}/{n}] {step.id}: done in {fmt_duration(record['wall_s'])}")
        return record

    def _run_step(
        self, step: Step, key: str, done: list[tuple[str, float]], device: str | None = None
    ) -> dict[str, Any]:
        """Execute one step (with `$SRLIB_DEVICE` = `device` if given), check its outputs exist, record it."""
        t0 = time.monotonic()
        extra = {"device": device} if device else {}
        if self.threads:
            extra["threads"] = self.threads
        self._execute(step, key, device)
        wall = time.monotonic() - t0
        done.append((step.notebook, wall))
        outputs = self._outputs(step)
        if outputs is None:
            missing = [str(p) for p in step.outputs if not p.exists()]
            self._write_record(step, key, "failed", wall, error=f"outputs missing: {missing}", **extra)
            raise StepFailed(
                f"step {step.id} ({step.notebook}.ipynb) produced no {', '.join(missing)}; "
                f"executed copy: {self.executed_path(step)}"
            )
        return self._write_record(step, key, "ok", wall, outputs=outputs, **extra)

    def _execute(self, step: Step, key: str, device: str | None = None) -> None:
        """Run `step` into a hidden `.running` copy, renamed to the executed copy when it ends. Ctrl-C
        (KeyboardInterrupt) passes through: the step keeps its previous record and a re-run resumes there.
        With `device`, the kernel starts with `$SRLIB_DEVICE` set to it, and with `threads`, with
        OMP_NUM_THREADS (kernel_env, srlib.pipeline.workers)."""
        import papermill
        from papermill.exceptions import PapermillExecutionError

        final = self.executed_path(step)
        final.parent.mkdir(parents=True, exist_ok=True)
        running = final.with_name(f".{final.stem}.running.ipynb")
        t0 = time.monotonic()
        extra = {**({DEVICE_ENV: device} if device else {}), **thread_env(self.threads)}
        env = {"kernel_manager_class": kernel_env(extra)} if extra else {}
        try:
            papermill.execute_notebook(
                str(self.notebook_path(step)),
                str(running),
                parameters=step.params,
                kernel_name=self.kernel,
                execution_timeout=self.cell_timeout,
                progress_bar=self.progress_bar,
                cwd=str(self.notebooks_dir),
                extra_arguments=list(KERNEL_ARGS),
                **env,
            )
        except PapermillExecutionError as exc:
            where = (exc.cell_index, exc.exec_count, f"{exc.ename}: {exc.evalue}", exc.source)
            self._fail(step, key, running, time.monotonic() - t0, *where)
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
            "params": self.portable(step.params),
            "wall_s": round(wall, 3),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "executed_notebook": self.executed_path(step).relative_to(self.root).as_posix(),
            "srlib_modules": sorted(self.modules(step)),
            "key_parts": self.key_payload(step),
            **extra,
        }
        with self._lock:  # concurrent steps (run_on_devices): one writer of the records at a time
            atomic.write_text(self.record_path(step), json.dumps(rec, indent=2, default=str) + "\n")
            self.write_provenance()
        return rec

    def write_provenance(self) -> Path:
        """`<root>/provenance.json`: environment, git state and every step record (rewritten after each step,
        so an interrupted run still documents what it did)."""
        steps = {}
        for f in sorted((self.root / "steps").glob("*.json")):
            try:
                rec = json.loads(f.read_text(encoding="utf-8"))
            except ValueError:
                continue
            steps[rec.get("step", f.stem)] = rec
        if self._environment is None:
            self._environment = _environment()
        prov = {
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git": git_state(),
            "srlib_source_sha256": self.sources.package_sha256(),
            **self._environment,
            "kernel": self.kernel,
            "cell_timeout_s": self.cell_timeout,
            "seeds": {sid: r["params"]["seed"] for sid, r in steps.items() if "seed" in r.get("params", {})},
            "steps": steps,
            **self.portable(self.provenance_extra() if self.provenance_extra else {}),
        }
        path = self.root / "provenance.json"
        atomic.write_text(path, json.dumps(prov, indent=2, default=str) + "\n")
        return path
