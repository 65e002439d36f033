# aisim: set-up, run, test. Each target creates the virtual environment (Python 3.12) if needed.
#   make run            the default job (embedded default calibration)
#   make test           the test suite (GPU tests are marked and skip, saying why, without a device)
#   make test-all       also the tests marked slow
#   make bench          the throughput benchmark
#   make run ARGS="paths.n=5000 scenario=baseline"   overrides are passed to aisim

SHELL := /bin/bash
VENV ?= .venv
ARGS ?=

# The first interpreter that really is Python 3.12 (a pyenv shim can exist and still fail).
PY ?= $(shell for p in python3.12 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do \
        "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

STAMP := $(VENV)/.installed

.PHONY: run test test-all test-gpu bench lint clean

$(STAMP): pyproject.toml
	@if [ -z "$(PY)" ]; then echo "make: no Python 3.12 found; install it or run make PY=/path/to/python3.12" >&2; exit 1; fi
	@[ -x $(VENV)/bin/python ] || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/aisim $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

test-all: $(STAMP)
	$(VENV)/bin/python -m pytest -m ""

test-gpu: $(STAMP)
	$(VENV)/bin/python -m pytest -m gpu

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/throughput.py $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check sim kernels tests benchmarks

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .hypothesis
