#!/usr/bin/env bash
# Install exactly the lowest versions pyproject.toml allows and run the store suites
# against them, so a floor is a version the code was tested with.
#
#     tools/check_floors.sh [VENV_DIR]
#
# Needs PyPI (or a mirror). tests/agentsync/test_dependencies.py checks that the pins below
# are the floors pyproject.toml declares.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-$(mktemp -d)/floors}"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q \
    anyio==4.4.0 \
    loro==1.17.1 \
    langgraph==1.0.0 \
    langgraph-prebuilt==1.0.0 \
    langgraph-checkpoint==2.1.0 \
    langchain-core==1.0.0 \
    msgspec==0.19.0 \
    structlog==24.1.0 \
    anthropic==2.0.0 \
    rich==13.7.0 \
    mypy_extensions==1.0.0 \
    'psycopg[binary]==3.2.1' \
    pytest pytest-timeout hypothesis trio
"$VENV/bin/pip" list 2>/dev/null | grep -iE '^(langgraph|langchain-core|loro|anyio|structlog) '
cd "$ROOT"
# -W: the oldest langgraph-prebuilt warns on import; -k: the compatibility suite also
# pins today's InMemoryStore messages, which the oldest InMemoryStore words differently
AGENTSYNC_PURE_PYTHON=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" \
    -W ignore::DeprecationWarning -k "not InMemoryStore" \
    tests/agentsync/test_store_compat.py \
    tests/agentsync/test_store_graph.py \
    tests/agentsync/test_store_resolve.py \
    tests/agentsync/test_store_tools.py \
    tests/agentsync/test_langgraph_review.py \
    tests/agentsync/test_logging.py \
    tests/agentsync/test_core.py
