# Two entry points (see README): `make replicate` and `make test`. Both create/reuse .venv (`make setup`).
# torch: TORCH_SPEC from the wheel index TORCH_INDEX when given, else from pip's default index. Plain PyPI on
# Linux x86_64 serves the CUDA build of torch (several GB; it runs on a CPU too). Choose the wheel:
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu        # CPU-only build (about 200 MB)
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cu126      # a CUDA build (cuXYZ: your CUDA)
# The choice is made when .venv is created; to change it later: rm -rf .venv, then make setup TORCH_INDEX=...
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PROFILE ?= quick
BIN := $(VENV)/bin
STAMP := $(VENV)/.srlib-installed

.PHONY: setup replicate test test-fast lint

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)") "$(TORCH_SPEC)"
	$(BIN)/python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda or 'none (CPU-only build)')"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name srlib --display-name "Python (srlib)"
	touch $(STAMP)

setup: $(STAMP)

# Data: $SRLIB_MIRROR if set, else ../shared/datasets when it exists, else the pinned URLs (manifest); the
# released weights likewise ($SRLIB_WEIGHTS_MIRROR, ../shared/weights, pinned URLs).
replicate: $(STAMP)
	SRLIB_MIRROR=$${SRLIB_MIRROR:-$$(test -d ../shared/datasets && cd ../shared/datasets && pwd)} \
	SRLIB_WEIGHTS_MIRROR=$${SRLIB_WEIGHTS_MIRROR:-$$(test -d ../shared/weights && cd ../shared/weights && pwd)} \
		$(BIN)/srlib replicate --profile $(PROFILE)

lint: $(STAMP)
	$(BIN)/ruff check srlib tests benchmarks notebooks

# nbval executes every notebook with its default (smoke, Set5) parameters into a throw-away results folder and
# compares the outputs of the cells marked `# NBVAL_CHECK_OUTPUT` with the committed ones (docs/notebooks.md).
NBVAL_FLAGS := --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
	--nbval-cell-timeout 900 -p no:cacheprovider

test: $(STAMP) lint
	$(BIN)/python -m pytest tests
	tmp=$$(mktemp -d) && SRLIB_RESULTS=$$tmp/results \
		SRLIB_MIRROR=$${SRLIB_MIRROR:-$$(test -d ../shared/datasets && cd ../shared/datasets && pwd)} \
		SRLIB_WEIGHTS_MIRROR=$${SRLIB_WEIGHTS_MIRROR:-$$(test -d ../shared/weights && cd ../shared/weights && pwd)} \
		$(BIN)/python -m pytest $(NBVAL_FLAGS) notebooks; status=$$?; rm -rf $$tmp; exit $$status

# The inner loop: lint + the unit tests without the `slow` ones and without the notebooks (under a minute on
# an idle 2-core machine; docs/benchmarks.md). `make test` stays the full check CI runs.
test-fast: $(STAMP) lint
	SRLIB_MIRROR=$${SRLIB_MIRROR:-$$(test -d ../shared/datasets && cd ../shared/datasets && pwd)} \
		$(BIN)/python -m pytest -q -m "not slow" tests
