"""Shared fixtures. Benchmark data comes from a mirror: `$SRLIB_MIRROR`, else `../shared/datasets` beside
the checkout; the released weights likewise from `$SRLIB_WEIGHTS_MIRROR`, else `../shared/weights`. Without
one, data tests skip with the reason -- except when `$SRLIB_REQUIRE_DATA` is set (CI), where a missing mirror
is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _mirror() -> Path | None:
    env = os.environ.get("SRLIB_MIRROR")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "datasets"]
    for path in candidates:
        if (path / "MANIFEST.tsv").is_file() or (path / "Set5").is_dir():
            return path
    return None


def _results_state() -> dict[str, bytes]:
    import hashlib

    root = REPO / "results"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).digest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def pytest_sessionstart(session: pytest.Session) -> None:
    """The committed results are what the docs cite: remember them, so a test that writes there fails."""
    session.config.stash[_RESULTS_KEY] = _results_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_RESULTS_KEY, None)
    if before is None:
        return
    after = _results_state()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        print(f"\nERROR: the test session changed the checkout's results/: {shown} (git checkout results/)")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_RESULTS_KEY = pytest.StashKey[dict[str, bytes]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that reads the mirror carries the `data` marker, whether or not its author remembered it,
    so `-m "not data"` really runs without the mirror."""
    for item in items:
        if {"mirror_dir", "data_dir"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)


def require_data(reason: str) -> None:
    """Skip with `reason` on a user's machine; fail in CI (`$SRLIB_REQUIRE_DATA`): data must be there."""
    if os.environ.get("SRLIB_REQUIRE_DATA"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    path = _mirror()
    if path is None:
        reason = (
            "benchmark data mirror not found: set SRLIB_MIRROR to a folder laid out as <Set>/<file> "
            "(e.g. ../shared/datasets)"
        )
        require_data(reason)
    return path


@pytest.fixture(scope="session")
def data_dir(mirror_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory filled (and sha256-verified) from the mirror once per test session."""
    from srlib.data.prepare import prepare

    target = tmp_path_factory.mktemp("data")
    prepare(sets=None, data_dir=target, mirror=mirror_dir, progress=False)
    return target


def _weights_mirror() -> Path | None:
    env = os.environ.get("SRLIB_WEIGHTS_MIRROR")
    path = Path(env) if env else REPO.parent / "shared" / "weights"
    return path if (path / "MANIFEST.tsv").is_file() or (path / "srcnn").is_dir() else None


@pytest.fixture(scope="session")
def weights_mirror() -> Path:
    path = _weights_mirror()
    if path is None:
        reason = (
            "released-weights mirror not found: set SRLIB_WEIGHTS_MIRROR to a folder laid out as "
            "<folder>/<file> (e.g. ../shared/weights)"
        )
        if os.environ.get("SRLIB_REQUIRE_DATA"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def weights_dir(weights_mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder filled (and sha256-verified) from the mirror once per test session."""
    from srlib.data.weights_manifest import prepare_weights

    target = tmp_path_factory.mktemp("weights")
    prepare_weights(None, target, weights_mirror, progress=False, offline=True)
    return target


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the Demo set and its x2 training cache, built once per test module."""
    from srlib.data import demo
    from srlib.data.patches import build_cache

    d = tmp_path_factory.mktemp("data")
    demo.materialize(d)
    build_cache(["Demo"], 2, data_dir=d, progress=False)
    return d


@pytest.fixture
def write_notebook():
    """`write(path, parameters_source, *cell_sources)`: a notebook for the srlib kernel whose first cell is
    the tagged `parameters` cell (the runner tests' tiny notebooks)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from srlib.pipeline.kernel import KERNEL_DISPLAY_NAME, KERNEL_NAME

    def write(path: Path, parameters: str, *cells: str) -> None:
        first = new_code_cell(parameters, metadata={"tags": ["parameters"]})
        spec = {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY_NAME, "language": "python"}
        nb = new_notebook(cells=[first, *map(new_code_cell, cells)], metadata={"kernelspec": spec})
        nbformat.write(nb, path)

    return write


@pytest.fixture(autouse=True)
def _own_results(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the checkout's committed results through `srlib.core.paths.results_dir()`:
    `$SRLIB_RESULTS` is a fresh folder per test unless the test sets its own (tests that check the committed
    results name `REPO / "results"` explicitly)."""
    if "SRLIB_RESULTS" not in os.environ:
        monkeypatch.setenv("SRLIB_RESULTS", str(tmp_path_factory.mktemp("results")))
