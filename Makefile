# certmint developer entry points. `make run` starts the local stack in the
# foreground; `make test` runs the suite, which starts its own stack on free
# ports; `make lint` runs the style and type checks. Installs are stamped, so
# a second run installs nothing unless a requirements or lock file changed.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
PIP := $(VENV_PYTHON) -m pip --disable-pip-version-check
PY_STAMP := $(VENV)/.certmint-installed
NODE_STAMP := node_modules/.certmint-installed
# The CLI package, once client/pyproject.toml exists.
CLIENT_PROJECT := $(wildcard client/pyproject.toml)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help deps run test lint clean

help:
	@echo "make run    start the local stack (API, console, dynalite) over HTTPS"
	@echo "make test   lint, then the test suite (starts its own stack)"
	@echo "make lint   ruff format --check, ruff check, mypy --strict"
	@echo "make clean  remove .venv, node_modules and caches (keeps .certmint/)"

deps: $(PY_STAMP) $(NODE_STAMP)

$(VENV_PYTHON):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "certmint needs Python 3.11 or newer as $(PYTHON)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): requirements.txt requirements-dev.txt $(CLIENT_PROJECT) | $(VENV_PYTHON)
	$(PIP) install --quiet -r requirements-dev.txt
	$(if $(CLIENT_PROJECT),$(PIP) install --quiet -e client)
	touch $@

$(NODE_STAMP): package.json package-lock.json
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' || \
		{ echo "certmint needs Node.js 20 or newer" >&2; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

# exec: the stack replaces the shell, so a signal to make's child reaches it.
run: deps
	exec $(VENV_PYTHON) -m devstack run

# The style and type checks run first: code that does not pass them does not land.
test: lint
	$(VENV_PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: deps
	$(VENV_PYTHON) -m ruff format --check .
	$(VENV_PYTHON) -m ruff check .
	$(VENV_PYTHON) -m mypy

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
	rm -rf client/*.egg-info client/build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
