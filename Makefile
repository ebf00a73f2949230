# rallyhub: `make run` serves the demo, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export RALLYHUB_ENV ?= development
FLASK := $(BIN)/flask --app wsgi

.PHONY: run test bench lint install install-test browser cluster clean messages fuzz screenshots catalogs

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

# Compiled catalogs (build output, not in git): rebuilt when their .po changes.
CATALOGS := $(patsubst %.po,%.mo,$(wildcard rallyhub/translations/*/LC_MESSAGES/messages.po))
%.mo: %.po | $(VENV)/.installed
	$(BIN)/pybabel -q compile -i $< -o $@
catalogs: $(CATALOGS)

run: install catalogs
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

# Debian's nginx for the two-instance tests and the day-of-action bench (tests/cluster), with
# faketime (a test moves nginx's clock past a page's lifetime) and wrk (the bench's load).
# Where systemd runs, Debian also starts its own nginx on port 80; the tests start theirs.
CLUSTER_TOOLS := /usr/sbin/nginx:nginx /usr/bin/faketime:faketime /usr/bin/wrk:wrk
cluster:
	@missing=""; for tool in $(CLUSTER_TOOLS); do \
	  [ -x "$${tool%%:*}" ] || missing="$$missing $${tool##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's$$missing for the two-instance tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing$$missing: the two-instance tests will be skipped (install them from Debian)."; \
	  fi; \
	fi

# Sets TEST_DATABASE_URL when the local PostgreSQL answers (and it is not set already).
WITH_POSTGRES = if [ -z "$$TEST_DATABASE_URL" ] && $(BIN)/python -c "import psycopg; psycopg.connect('$(subst +psycopg,,$(PG_TEST_URL))', connect_timeout=3).close()" 2>/dev/null; then \
	  export TEST_DATABASE_URL='$(PG_TEST_URL)'; echo "PostgreSQL answers at $(PG_TEST_URL): using it too."; \
	else echo "Databases: SQLite$${TEST_DATABASE_URL:+ and $$TEST_DATABASE_URL}."; fi

test: install-test browser cluster catalogs
	$(BIN)/ruff check rallyhub tests $(wildcard bench)
	@$(WITH_POSTGRES); RALLYHUB_ENV=testing $(BIN)/python -m pytest $(PYTEST_ARGS)

# At least 1,000 examples per form, on every database that answers; prints "N cases, M server errors".
fuzz: install-test
	@$(WITH_POSTGRES); RALLYHUB_ENV=testing HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/test_fuzz_routes.py -q -s -p no:logging $(PYTEST_ARGS)

# The README's screenshots (phone and desktop), from the demo data in a throw-away database.
screenshots: install-test browser
	$(BIN)/python docs/screenshots.py

lint: install-test
	$(BIN)/ruff check rallyhub tests $(wildcard bench)
	$(BIN)/ruff format --check rallyhub tests $(wildcard bench)

bench: install-test cluster
	@$(WITH_POSTGRES); set -e; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache

# Extract the strings to translate (lazy_gettext is imported as _l) and merge them into every
# catalog; translate the new entries, then `make test` checks that none is missing.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
	  --ignore-dirs '.*' \
	  --project rallyhub -o rallyhub/translations/messages.pot .
	$(BIN)/pybabel update -i rallyhub/translations/messages.pot -d rallyhub/translations \
	  --no-fuzzy-matching --ignore-obsolete
