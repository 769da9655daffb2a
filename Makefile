# Workflow Builder — the commands a newcomer and CI use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UI_BUILD := src/workflow_builder/static/index.html
UI_DEPS := frontend/node_modules/.installed
UI_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html \
	frontend/vite.config.ts frontend/tsconfig.json frontend/package-lock.json
CHROMIUM := /usr/bin/chromium

DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev ui browser sandbox run test lint format bench clean

install: $(STAMP) ui
install-dev: $(DEV_STAMP) ui

# Installs into the virtual environment with uv (from PyPI), which took 14 s where pip took
# 200 s on a fresh clone (README, "First start"); with pip when uv cannot be had.
define pip_install
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	@test -x $(BIN)/uv || $(PYTHON) -m pip --python $(BIN)/python install --quiet uv \
		|| echo "uv not available: installing with pip"
	@if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install --quiet --python $(BIN)/python pip $(1); \
	else $(BIN)/python -m ensurepip --default-pip >/dev/null && $(BIN)/python -m pip install --quiet $(1); fi
endef

# `make run` needs the product only; tests and linters add the dev extra.
$(STAMP): pyproject.toml
	$(call pip_install,-e .)
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(call pip_install,-e ".[dev]")
	@touch $(DEV_STAMP)

# The web app is built into the package; without npm the API still runs, without its UI.
ui:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(UI_BUILD); \
	else echo "npm not found: skipping the web app build (the API still works)"; fi

$(UI_DEPS): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $(UI_DEPS)

# vite alone: the type check (`npm run typecheck`, 5x the build's time) is for `make test`/`lint`.
$(UI_BUILD): $(UI_DEPS) $(UI_SOURCES)
	cd frontend && npx --no-install vite build --logLevel error

# Browser tests drive Debian's Chromium; install it when it is missing and we may.
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing Chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "Chromium missing and not root: browser tests will be skipped"; fi; \
	fi

# python_code runs tenant code under bubblewrap with the system Python; install them when they
# are missing and we may (without them python_code steps fail, saying what to install).
sandbox:
	@if [ ! -x /usr/bin/bwrap ] || [ ! -x /usr/bin/python3 ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "Installing bubblewrap for the python_code sandbox"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap python3 >/dev/null; \
		else echo "bubblewrap missing and not root: python_code steps will fail (apt-get install bubblewrap)"; fi; \
	fi

run: install sandbox
	$(BIN)/wfb up

# The whole suite on the default engine (DBOS), then everything that runs workflows again on
# Temporal, against a Temporal dev server the tests start on a free port.
TEMPORAL_TESTS := tests/runtime tests/e2e/test_runs.py --ignore=tests/runtime/test_temporal_faults.py

test: install-dev browser sandbox
	@if command -v npm >/dev/null 2>&1; then cd frontend && npm run --silent typecheck; fi
	$(BIN)/pytest $(PYTEST_ARGS)
	WFB_ENGINE=temporal $(BIN)/pytest $(TEMPORAL_TESTS) $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd frontend && npm run --silent typecheck

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks (not part of `make test`): writes docs/benchmarks.md. Prefect, the peer of B1, is
# installed on first use into a virtual environment of its own, .venv-bench-prefect.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(DEV_STAMP)
	$(call pip_install,-e ".[dev,bench]")
	@touch $(BENCH_STAMP)

bench: install-dev $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-bench-prefect build dist .pytest_cache .mypy_cache .ruff_cache \
		frontend/node_modules src/workflow_builder/static
