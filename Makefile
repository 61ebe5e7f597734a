# Two entry points: `make demo` and `make test`. Each creates .venv in the repo root and installs
# what it needs itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint typecheck unit clean bench-tracking schema-check

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(VENV)/bin/modelplane demo

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.dev-installed
	$(VENV)/bin/mypy

# The browser tests (tests/ui) drive Debian's Chromium; installed once when missing.
$(VENV)/.chromium: | $(PY)
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo="sudo -n"; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		$$sudo apt-get install -y -q chromium || \
		{ $$sudo apt-get update -q && $$sudo apt-get install -y -q chromium; }; }
	touch $@

unit: $(VENV)/.dev-installed $(VENV)/.chromium
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck unit

bench-tracking: $(VENV)/.dev-installed
	$(PY) bench/tracking/run.py

# Schemathesis (every check, SCHEMA_EXAMPLES cases per operation) against a server on a free
# port over a fresh home: the demo's model, deployed as the endpoint schemathesis.toml names.
SCHEMA_EXAMPLES ?= 20
schema-check: $(VENV)/.dev-installed
	@home=$$(mktemp -d) && port=$$($(PY) -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') && \
	$(VENV)/bin/modelplane --home $$home/home demo >/dev/null && \
	$(VENV)/bin/modelplane --home $$home/home deploy schema-check models:/breast-cancer/1 >/dev/null && \
	{ $(VENV)/bin/modelplane --home $$home/home serve --port $$port & pid=$$!; } && \
	trap 'kill $$pid; wait $$pid; rm -rf $$home' EXIT && \
	$(VENV)/bin/schemathesis --config-file schemathesis.toml run http://127.0.0.1:$$port/openapi.json \
		--checks all --max-examples $(SCHEMA_EXAMPLES) --seed 1 --wait-for-schema 60

clean:
	rm -rf $(VENV) .modelplane .pytest_cache .mypy_cache .ruff_cache
