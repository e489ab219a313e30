# Two commands on a fresh machine: `make bench` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mypyc build of the hot modules (src/agentsync/_accel.py lists them); rebuilt when any
# source changes. Without a C compiler the build says so and the package runs as plain
# Python (slower, same behaviour).
COMPILED := $(VENV)/.compiled
SOURCES := $(wildcard src/agentsync/*.py) tools/mypyc_build.py
PURE_TESTS := tests/agentsync/test_accel.py tests/agentsync/test_core.py \
	tests/agentsync/test_core_properties.py tests/agentsync/test_core_text.py \
	tests/agentsync/test_core_sequences.py tests/agentsync/test_core_cold.py \
	tests/agentsync/test_store.py tests/agentsync/test_store_graph.py \
	tests/agentsync/test_store_put.py

.PHONY: bench test lint setup clean compiled

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(COMPILED): $(STAMP) $(SOURCES)
	$(BIN)/python tools/mypyc_build.py
	touch $(COMPILED)

setup: $(COMPILED)

compiled:
	$(BIN)/python tools/mypyc_build.py
	touch $(COMPILED)

bench: $(COMPILED)
	$(BIN)/python bench.py --replicas 8 --jitter

# the suite runs on the compiled build, then the core and store tests again as plain
# Python (what runs where no compiler was available)
test: $(COMPILED)
	$(BIN)/python -m pytest -q
	AGENTSYNC_PURE_PYTHON=1 $(BIN)/python -m pytest -q $(PURE_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) src/agentsync/_compiled .pytest_cache .mypy_cache .ruff_cache .hypothesis
