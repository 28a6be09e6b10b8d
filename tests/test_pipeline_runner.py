"""The step runner: order, content-hash skipping, failure reports, provenance; and the source index behind
each step's key (a notebook's import closure). Kernel-executing tests use a tiny notebook in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlib.pipeline.keys import Hasher, SourceIndex
from srlib.pipeline.params import PARAMS_MARKER, ParameterError
from srlib.pipeline.runner import Runner, Step, StepFailed, order_steps

TINY_SCHEMA = {"x": int, "out": str, "sleep": float}
SRC = "{'x': int, 'out': str, 'sleep': float}"  # TINY_SCHEMA as source


def _step(sid: str, after: tuple[str, ...] = ()) -> Step:
    return Step(sid, sid.split("-")[0], {}, after=after)


def test_order_steps_puts_dependencies_first_and_only_selects_what_is_needed():
    steps = [_step("c", ("b",)), _step("b", ("a",)), _step("a"), _step("d")]
    assert [s.id for s in order_steps(steps)] == ["a", "b", "c", "d"]
    assert [s.id for s in order_steps(steps, only=["b"])] == ["a", "b"]
    with pytest.raises(ValueError, match="unknown step"):
        order_steps(steps, only=["e"])
    with pytest.raises(ValueError, match="cycle"):
        order_steps([_step("a", ("b",)), _step("b", ("a",))])


def test_hasher_tracks_content_and_skips_hidden_files(tmp_path):
    (tmp_path / "a.txt").write_text("1")
    first = Hasher().tree(tmp_path)
    (tmp_path / ".partial.tmp").write_text("x")
    assert Hasher().tree(tmp_path) == first
    (tmp_path / "a.txt").write_text("2")
    assert Hasher().tree(tmp_path) != first


def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_source_index_follows_static_lazy_and_dynamic_imports(tmp_path):
    pkg = _package(
        tmp_path / "srlib",
        {
            "__init__.py": "",
            "a.py": "def f():\n    from srlib.b import g\n    return g\n",
            "b.py": "REG = {'x': 'srlib.c:X'}\n",
            "c.py": "",
            "lazy/__init__.py": "import importlib\ndef get(n):\n"
            "    return importlib.import_module(f'srlib.lazy.{n}')\n",
            "lazy/one.py": "",
            "lazy/data/table.tsv": "a\tb\n",
            "lone.py": "",
        },
    )  # fmt: skip
    index = SourceIndex(pkg)
    assert index.closure(["srlib.a"]) == {"srlib", "srlib.a", "srlib.b", "srlib.c"}
    assert index.imports_of("from srlib import lazy") == {"srlib", "srlib.lazy"}
    assert index.closure(["srlib.lazy"]) == {"srlib", "srlib.lazy", "srlib.lazy.one"}
    assert "lazy/data/table.tsv" in index.digest(index.closure(["srlib.lazy"]))
    assert "lone.py" not in index.digest(index.closure(["srlib.a", "srlib.lazy"]))


TINY_PARAMS = f"{PARAMS_MARKER}\nx = 1\nout = ''\nsleep = 0.0"
TINY_CELLS = (
    f"from srlib.pipeline.params import validate_params\nvalidate_params('t', globals(), {SRC})",
    "import pathlib, time\ntime.sleep(sleep)\nassert x != 99, 'x is 99'\nif out:\n"
    "    pathlib.Path(out).write_text(str(x))",
)


@pytest.mark.slow
def test_runner_skips_done_steps_and_reports_failures(tmp_path, write_notebook, capfd):
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    write_notebook(nbdir / "t.ipynb", TINY_PARAMS, *TINY_CELLS)
    lines: list[str] = []
    runner = Runner(nbdir, tmp_path / "res", cell_timeout=20, schemas={"t": TINY_SCHEMA}, log=lines.append)
    out = tmp_path / "res" / "a.txt"
    ok = Step("t-a", "t", {"x": 5, "out": str(out)}, outputs=(out,))

    runner.run([ok])
    assert out.read_text() == "5"
    assert "without encryption" not in capfd.readouterr().err  # the kernel's start-up noise (KERNEL_ARGS)
    rec = json.loads((tmp_path / "res" / "steps" / "t-a.json").read_text())
    assert rec["status"] == "ok" and rec["wall_s"] > 0
    assert rec["srlib_modules"] == ["srlib", "srlib.pipeline", "srlib.pipeline.params"]
    assert (tmp_path / "res" / "notebooks" / "t-a.ipynb").is_file()
    prov = json.loads((tmp_path / "res" / "provenance.json").read_text())
    assert prov["steps"]["t-a"]["key"] == rec["key"] and "torch" in prov["packages"]

    lines.clear()
    runner.run([ok])
    assert any("t-a: up to date, skipped" in line for line in lines), lines

    out.write_text("tampered")  # an output that changed makes the step run again
    assert not runner.up_to_date(ok, runner.key(ok))

    out.write_text("5")
    bad = Step("t-bad", "t", {"x": 99})
    lines.clear()
    with pytest.raises(StepFailed) as err:
        runner.run([ok, bad])
    assert lines[0] == "[1/2] t-a: up to date, skipped"
    assert lines[1].startswith("[2/2] t-bad: running t.ipynb (elapsed 0:00:00, estimated left 0:00:"), lines
    message = str(err.value)
    assert "t-bad failed in cell 3" in message and "AssertionError: x is 99" in message
    assert str(tmp_path / "res" / "notebooks" / "t-bad.ipynb") in message
    assert json.loads((tmp_path / "res" / "steps" / "t-bad.json").read_text())["status"] == "failed"

    silent = Step("t-silent", "t", {"x": 1}, outputs=(tmp_path / "never.txt",))
    with pytest.raises(StepFailed, match=r"produced no .*never\.txt"):
        runner.run([silent])

    slow = Step("t-slow", "t", {"x": 1, "sleep": 60.0})
    runner.cell_timeout = 2
    with pytest.raises(StepFailed, match=r"t-slow failed in cell 3 .*CellTimeoutError"):
        runner.run([slow])


def test_runner_refuses_undeclared_parameters_before_starting_a_kernel(tmp_path):
    runner = Runner(tmp_path, tmp_path / "res", schemas={"t": TINY_SCHEMA})
    with pytest.raises(ParameterError, match="scael"):
        runner.run([Step("t-a", "t", {"scael": 2})])
