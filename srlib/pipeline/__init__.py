"""The notebook pipeline: this paper's plan of notebook steps, the runner that executes them with papermill
(skipping what is up to date), and the one run API the notebooks and commands share.

Modules: `params` (notebook parameter schemas and their checks), `kernel` (the Jupyter kernel), `keys`
(content hashes and each step's import closure), `runner` (`Step`, `Runner`), `runs` (`RunSpec`, `Runs`:
the run layout), `plan` (this paper's steps, `run_pipeline`). This file imports nothing, so a notebook that
imports `srlib.pipeline.runs` depends on that module's imports only (its skip key covers no more than that).
"""
