# The two commands a new user runs: `make run` and `make test`.
# Both create .venv when it is missing and install once; the stamp file makes re-runs fast.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fleet install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/lstm-doctor serve

test: $(STAMP)
	$(BIN)/python -m pytest

# Hosts made of Linux network namespaces (needs root; skips with a reason elsewhere): README "Scaling out".
test-fleet: $(STAMP)
	$(BIN)/python -m pytest -m fleet tests/fleet

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
