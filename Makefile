# maydo — two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: demo test bench browser

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

demo: $(VENV)/.core
	$(VENV)/bin/maydo demo

# The review page's browser test drives Debian's chromium through chromium-driver (no browser
# download); the docs/api.md examples test runs curl.
browser:
	@if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null || ! command -v curl >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver curl >/dev/null; \
	  else echo "note: chromium/chromium-driver/curl missing and not root: install them for the browser and docs tests"; fi; fi

test: $(VENV)/.all browser
	$(VENV)/bin/ruff check pipelines workers tests bench
	$(VENV)/bin/mypy pipelines workers
	$(VENV)/bin/pytest -q

bench: $(VENV)/.all
	@# -P: do not put bench/ first on sys.path (bench/queue.py would shadow the stdlib queue)
	@set -e; for f in bench/*.py; do echo "== $$f"; $(PY) -P $$f; done
