# maydo — two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: demo test bench system-deps postgres-bin

# Debian packages the voice engines use (flite: CMU voices, default engine of several English
# accents). Installed only when running as root with apt and missing; otherwise `maydo doctor`
# says how to install them and the accents fall back to espeak-ng with a warning.
system-deps:
	@if ! command -v flite >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing flite (apt)"; \
	  (apt-get install -y -qq flite >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq flite >/dev/null 2>&1)) \
	    || echo "warning: apt-get install flite failed; English accents fall back to espeak-ng"; \
	fi


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

demo: $(VENV)/.core system-deps
	$(VENV)/bin/maydo demo

# The job-store tests start a throwaway PostgreSQL cluster (initdb + pg_ctl, loopback, temp dir):
# install the server binaries when they are missing and we may (root on Debian).
postgres-bin:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 || \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	  else echo "note: PostgreSQL server binaries not found; install postgresql-15 (the postgres job-store tests need them)"; fi; \
	fi

test: $(VENV)/.all system-deps postgres-bin
	$(VENV)/bin/ruff check pipelines workers tests bench
	$(VENV)/bin/mypy pipelines workers
	$(VENV)/bin/pytest -q

bench: $(VENV)/.all system-deps
	@# -P: do not put bench/ first on sys.path (bench/queue.py would shadow the stdlib queue)
	@set -e; for f in bench/*.py; do echo "== $$f"; $(PY) -P $$f; done
