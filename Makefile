# Stratus developer entry points. `make demo` and `make test` bootstrap .venv on a fresh machine.
SHELL := /bin/bash
PY ?= $(shell ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 2>/dev/null | tail -1)
ifeq ($(strip $(PY)),)
PY := python3
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# aws-sam-cli in its own venv (its pins would fight moto/boto3 in .venv).
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
# `sam build` for python3.12 needs python3.12 on PATH: the directory of the interpreter found above.
PYDIR := $(abspath $(dir $(PY)))

.PHONY: install sam demo test chromium bench bench-airflow chaos lint clean requirements

$(STAMP): pyproject.toml setup.py constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[local,dev]' -c constraints.txt
	touch $(STAMP)

$(SAM_STAMP):
	test -x $(SAM_VENV)/bin/python || $(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q aws-sam-cli
	touch $(SAM_STAMP)

install: $(STAMP)

sam: $(SAM_STAMP)

demo: $(STAMP)
	$(BIN)/stratus demo --dags dags

# Debian's chromium for tests/browser (Playwright drives it; no browser download at run time).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

test: $(STAMP) $(SAM_STAMP) chromium
	PATH="$(PYDIR):$$PATH" $(BIN)/python -m pytest -q -n 2 tests
	# The engine and store suites again on plain moto: the local cloud's speed-ups change no answer.
	# Less the tests marked slow (1,000-instance maps): plain moto copies whole tables on every
	# transaction, so they take many minutes and gigabytes there; the pass above runs them.
	STRATUS_MOTO_FAST=0 $(BIN)/python -m pytest -q -n 2 -p no:cacheprovider -m "not slow" tests/functional/engine tests/functional/store

bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# Apache Airflow in its own venv (its pins never meet ours), then every benchmark with the comparison.
bench-airflow: $(STAMP)
	test -x .venv-airflow/bin/python || $(PY) -m venv .venv-airflow
	.venv-airflow/bin/python -m pip install -q "apache-airflow==3.3.2"
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# `make chaos CHAOS_SEED=7` replays seed 7 (several: CHAOS_SEED=1,2,3); without it a fresh seed is drawn
# and printed. CHAOS_RUNS runs per seed.
CHAOS_SEED ?=
CHAOS_RUNS ?= 200
chaos: $(STAMP)
	$(BIN)/python -m chaos $(if $(CHAOS_SEED),--seeds $(CHAOS_SEED)) --runs $(CHAOS_RUNS)

# The StratusLayer's requirements.txt, generated from pyproject.toml's runtime dependencies.
requirements:
	$(PY) iac/layers/library/requirements.py

lint: $(STAMP)
	$(BIN)/python -m mypy orchestrator

clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache build .aws-sam *.egg-info
