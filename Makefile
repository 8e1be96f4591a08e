# One Makefile: `make run` runs the whole system, `make test` runs the tests. `make help` lists all.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 3000
PYTEST_ARGS ?=
LINT_PATHS := streams projections gateway runtime devstack tests bench

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

.PHONY: install
install: $(VENV)/.installed ## create .venv and install the project with its dev dependencies

.PHONY: infra
infra: install ## build (once, cached) the local Kafka jars and the SecantusDB + FerretDB binaries
	$(PY) -m devstack build --mongo all

.PHONY: run
run: infra ## run Kafka, the database, a Faust worker and the gateway on PORT (default 3000); Ctrl-C stops all
	PORT=$(PORT) $(PY) -m devstack run \
		--proc worker="$(PY) -m runtime worker" \
		--proc gateway="$(PY) -m gateway" \
		--ready-url http://127.0.0.1:$(PORT)/readyz

.PHONY: test
test: infra ## run every test (unit, integration, e2e) against real servers the project starts
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## only the unit tests (no servers)
	$(PY) -m pytest -p no:cacheprovider -m unit $(PYTEST_ARGS)

.PHONY: lint
lint: install ## ruff (lint + format), mypy, import-linter (the package boundaries in pyproject.toml)
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

.PHONY: bench
bench: infra ## run the benchmarks in bench/ (figures, not pass/fail)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

.PHONY: clean
clean: ## remove the venv and caches inside the checkout (the server build cache stays)
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
