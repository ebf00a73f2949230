# rallyhub: `make run` serves the demo, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export RALLYHUB_ENV ?= development
FLASK := $(BIN)/flask --app wsgi

.PHONY: run test bench lint install install-test browser clean messages fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps so that a second `make` reinstalls only when pyproject.toml changed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(FLASK) db upgrade
	$(FLASK) rallyhub seed-demo
	$(FLASK) run --host 127.0.0.1 --port 5000

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: browser tests will be skipped (install Debian's chromium)."; \
	  fi; \
	fi

# Sets TEST_DATABASE_URL when the local PostgreSQL answers (and it is not set already).
WITH_POSTGRES = if [ -z "$$TEST_DATABASE_URL" ] && $(BIN)/python -c "import psycopg; psycopg.connect('$(subst +psycopg,,$(PG_TEST_URL))', connect_timeout=3).close()" 2>/dev/null; then \
	  export TEST_DATABASE_URL='$(PG_TEST_URL)'; echo "PostgreSQL answers at $(PG_TEST_URL): using it too."; \
	else echo "Databases: SQLite$${TEST_DATABASE_URL:+ and $$TEST_DATABASE_URL}."; fi

test: install-test browser
	$(BIN)/ruff check rallyhub tests $(wildcard bench)
	@$(WITH_POSTGRES); RALLYHUB_ENV=testing $(BIN)/python -m pytest $(PYTEST_ARGS)

# At least 1,000 examples per form, on every database that answers; prints "N cases, M server errors".
fuzz: install-test
	@$(WITH_POSTGRES); RALLYHUB_ENV=testing HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/test_fuzz_routes.py -q -s -p no:logging $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check rallyhub tests $(wildcard bench)
	$(BIN)/ruff format --check rallyhub tests $(wildcard bench)

bench: install-test
	@$(WITH_POSTGRES); set -e; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache

# Extract the strings to translate (lazy_gettext is imported as _l).
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o rallyhub/translations/messages.pot .
