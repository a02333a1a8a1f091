# Stratus developer entry points. `make demo` and `make test` bootstrap .venv on a fresh machine.
SHELL := /bin/bash
PY ?= $(shell ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 2>/dev/null | tail -1)
ifeq ($(strip $(PY)),)
PY := python3
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test chromium bench bench-airflow chaos lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/stratus demo --dags dags

# Debian's chromium for tests/browser (Playwright drives it; no browser download at run time).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -n 2 tests

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Apache Airflow in its own venv (its pins never meet ours), then every benchmark with the comparison.
bench-airflow: $(STAMP)
	test -x .venv-airflow/bin/python || $(PY) -m venv .venv-airflow
	.venv-airflow/bin/python -m pip install -q "apache-airflow==3.3.2"
	$(BIN)/python bench/run_all.py

chaos: $(STAMP)
	$(BIN)/python -m orchestrator.local.chaos

lint: $(STAMP)
	$(BIN)/python -m mypy orchestrator

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
