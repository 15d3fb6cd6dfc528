# Switchboard: `make run` serves the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: run install install-dev sandbox-deps system-deps test lint format migrate bench

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

run: sandbox-deps migrate
	$(PY) manage.py setup_demo
	@echo "Serving Switchboard on http://$(HOST):$(PORT)/"
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) config.asgi:application

# Stdio MCP servers run in Debian's bubblewrap sandbox (MCP_SANDBOX=0 turns it off, for development only).
sandbox-deps:
	@[ "$(MCP_SANDBOX)" = "0" ] || command -v bwrap >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq bubblewrap >/dev/null; }

# Debian's chromium drives the browser tests; Playwright's own download does not work offline.
system-deps: sandbox-deps
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# Third-party MCP servers the tests connect to (package.json pins them; npm ci installs the lock file).
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Most tests wait on servers, browsers and subprocesses rather than the CPU: three workers keep two cores busy.
# Each worker has its own test database and Redis database numbers (tests/conftest.py); a file's tests stay together.
TEST_WORKERS ?= 3

test: install-dev system-deps node_modules/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Not part of `make test`: starts its own servers (PostgreSQL and Redis on 127.0.0.1 for the two-process part).
bench: install
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m bench.run $(BENCH_ARGS)
