# The two commands a new user runs: `make run` and `make test`.
# Both create .venv when it is missing and install once; the stamp file makes re-runs fast.
# The API alone needs only the base install (`pip install .`); a worker adds the `worker` extra
# (TensorFlow). `make run` starts both, so it installs both, and the test tools with them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The product's packages: linted, format-checked and type-checked before the tests run.
CHECKED := core service worker diagnosis lstm_doctor_client
# Tests, benchmarks and tools are linted for real mistakes too (not format-checked or typed).
LINTED := $(CHECKED) tests benchmarks tools

.PHONY: run test test-fleet lint install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[worker,test]'
	touch $(STAMP)

install: $(STAMP)

# `exec`: serve replaces the recipe's shell, so a SIGTERM make forwards (or a supervisor sends the
# whole group) reaches serve itself, which stops everything it started.
run: $(STAMP)
	exec $(BIN)/lstm-doctor serve

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# Hosts made of Linux network namespaces (needs root; skips with a reason elsewhere): README "Scaling out".
test-fleet: $(STAMP)
	$(BIN)/python -m pytest -m fleet tests/fleet

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
