# One Makefile: `make run` runs the whole system, `make test` runs the tests. `make help` lists all.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 3000
WORKERS ?= 1
GATEWAYS ?= 1
# nginx in front of the gateways: auto = only when GATEWAYS > 1; 1 = always; 0 = never
LB ?= auto
CACHE_DIR := $(or $(STREAMPROC_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/streamproc)
JS_CLIENT_DIR := $(CACHE_DIR)/node-client
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

# nginx is only needed (and installed) when it will run: LB=1, or LB=auto with GATEWAYS > 1
RUN_NEEDS_LB := $(if $(filter 1 yes on true,$(LB)),lb-deps,$(if $(filter auto,$(LB)),$(if $(filter-out 1,$(GATEWAYS)),lb-deps)))

.PHONY: run
run: infra web $(RUN_NEEDS_LB) ## Kafka, the database, WORKERS workers, GATEWAYS gateways on PORT (nginx in front if >1, LB=0/1); restarts crashed children
	$(PY) -m devstack run --workers $(WORKERS) --gateways $(GATEWAYS) --port $(PORT) --lb $(LB) \
		--worker-cmd "$(PY) -m runtime worker" --gateway-cmd "$(PY) -m gateway"

.PHONY: lb-deps
lb-deps: ## install nginx when missing (apt-get as root; once) for LB runs and the load-balancer tests
	@if command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "lb-deps: nginx is missing; install it as root: apt-get install -y nginx-light (or nginx)" >&2; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$SUDO apt-get update -q && \
	{ $$SUDO apt-get install -y -q --no-install-recommends nginx-light || \
	  $$SUDO apt-get install -y -q --no-install-recommends nginx; }

.PHONY: browser-deps
browser-deps: ## install Debian's chromium when /usr/bin/chromium is missing (apt-get as root; once) for the browser tests
	@if test -x /usr/bin/chromium; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "browser-deps: /usr/bin/chromium is missing; install it as root: apt-get install -y chromium" >&2; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

JS_CLIENT_STAMP := $(JS_CLIENT_DIR)/node_modules/.installed-by-make

.PHONY: js-deps
js-deps: $(JS_CLIENT_STAMP) ## install the seed's JS client (socket.io-client, pinned in tests/js/) into the cache

# npm ci into the cache (under a lock: worktrees share it), again whenever tests/js/ changes;
# npm ci empties node_modules first, so the stamp inside it also goes if someone deletes it
$(JS_CLIENT_STAMP): tests/js/package.json tests/js/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "js-deps: node 20+ and npm are needed (apt-get install nodejs npm)" >&2; exit 1; }
	mkdir -p $(JS_CLIENT_DIR)
	flock $(JS_CLIENT_DIR).lock sh -c 'cp tests/js/package.json tests/js/package-lock.json $(JS_CLIENT_DIR)/ && \
		npm ci --prefix $(JS_CLIENT_DIR) --no-audit --no-fund --loglevel=error && touch $@'

JS_PKG := clients/js
JS_PKG_STAMP := $(JS_PKG)/node_modules/.installed-by-make

.PHONY: js-client
js-client: $(JS_PKG_STAMP) install ## npm ci clients/js (once per lockfile), then build it: types regenerated and checked for drift, tsc to dist/
	cd $(JS_PKG) && PYTHON=$(abspath $(PY)) npm run build --silent

# npm ci empties node_modules first, so the stamp inside it also goes if someone deletes it
$(JS_PKG_STAMP): $(JS_PKG)/package.json $(JS_PKG)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "js-client: node 20.19+ and npm are needed (apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix $(JS_PKG) --no-audit --no-fund --loglevel=error
	@touch $@

WEB_DIR := clients/web
WEB_STAMP := $(WEB_DIR)/node_modules/.installed-by-make
WEB_SOURCES := $(shell find $(WEB_DIR)/src $(WEB_DIR)/public -type f 2>/dev/null) \
	$(WEB_DIR)/index.html $(WEB_DIR)/vite.config.ts $(WEB_DIR)/tsconfig.json

.PHONY: web
web: js-client $(WEB_DIR)/dist/index.html ## build the demo page (Vite + React) into clients/web/dist; the gateway serves it at /

# npm ci again whenever the lockfile changes (npm ci empties node_modules, the stamp goes too)
$(WEB_STAMP): $(WEB_DIR)/package.json $(WEB_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "web: node 20+ and npm are needed (apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix $(WEB_DIR) --no-audit --no-fund --loglevel=error
	@touch $@

# rebuilt when the page's sources, its dependencies or the client package's sources change (not
# its dist/: js-client rewrites that on every run)
$(WEB_DIR)/dist/index.html: $(WEB_STAMP) $(WEB_SOURCES) $(shell find $(JS_PKG)/src -type f 2>/dev/null) $(JS_PKG)/package.json
	cd $(WEB_DIR) && npm run build --silent

.PHONY: test
test: infra lb-deps js-deps js-client web browser-deps ## run every test (unit, integration, e2e, browser) against real servers the project starts; the fault suite is `make test-faults`
	$(PY) -m pytest -p no:cacheprovider -m "not faults" $(PYTEST_ARGS)

# schemathesis lives in a venv of its own in the cache (a CLI speaking HTTP: it needs none of our code), so its
# pins (hypothesis, pytest) never touch the project's venv or `make test`.
FUZZ_VENV ?= $(CACHE_DIR)/fuzz-venv
FUZZ_REQ := schemathesis>=4.1,<5
FUZZ_EXAMPLES ?= 25
FUZZ_TITLE := https://www.netflix.com/de/title/80047616

$(FUZZ_VENV)/.installed:
	@test -x $(FUZZ_VENV)/bin/python || $(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/python -m pip install -q --disable-pip-version-check '$(FUZZ_REQ)'
	@touch $@

.PHONY: fuzz
fuzz: infra $(FUZZ_VENV)/.installed ## schemathesis against /api/openapi.json on a real gateway + worker (fake Netflix upstream): no answer >= 500, answers as documented
	@set -euo pipefail; \
	free_port() { $(PY) -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }; \
	port=$$(free_port); nf=$$(free_port); work=$$(mktemp -d -t streamproc-fuzz.XXXXXX); log=$$work/stack.log; \
	export API_KEYS=dev-api-key NETFLIX_BASE_URL=http://127.0.0.1:$$nf TOPIC_PREFIX=fuzz$$port. \
		MONGODB_DATABASE=fuzz$$port JOB_WAIT_TIMEOUT_SECONDS=30; \
	$(PY) -m devstack run --no-restart --workers 1 --gateways 1 --lb 0 --port $$port \
		--worker-cmd "$(PY) -m runtime worker" --gateway-cmd "$(PY) -m gateway" \
		--proc "netflix=$(PY) -m tests.fakes.netflix_server --port $$nf" >$$log 2>&1 & run=$$!; \
	trap 'kill -TERM $$run 2>/dev/null; wait $$run 2>/dev/null || true; rm -rf $$work' EXIT; \
	base=http://127.0.0.1:$$port; code=000; \
	for i in $$(seq 1 180); do \
		code=$$(curl -s -o /dev/null -w '%{http_code}' -X POST $$base/api/getinfo -H 'X-API-Key: dev-api-key' \
			-H 'Content-Type: application/json' -d '{"url": "$(FUZZ_TITLE)"}' || true); \
		[ "$$code" = 200 ] && break; \
		kill -0 $$run 2>/dev/null || { tail -50 $$log; exit 1; }; sleep 1; \
	done; \
	[ "$$code" = 200 ] || { echo "fuzz: the stack did not serve a job in 180 s" >&2; tail -50 $$log; exit 1; }; \
	token=$$($(PY) -W ignore -c 'import time, jwt; from streams.settings import Settings; \
		print(jwt.encode({"sub": "65f0000000000000000000a1", "exp": int(time.time()) + 3600}, \
		Settings.from_env().jwt_secret, algorithm="HS256"))'); \
	cd $$work; rc=0; \
	$(abspath $(FUZZ_VENV))/bin/schemathesis run $$base/api/openapi.json --url $$base \
		--checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
		-H 'X-API-Key: dev-api-key' -H "Authorization: Bearer $$token" \
		--max-examples $(FUZZ_EXAMPLES) --seed 13 --request-timeout 45 --no-color \
		--report har --report-har-path $$work/fuzz.har || rc=$$?; \
	$(abspath $(PY)) -c 'import collections, json, sys; \
		entries = json.load(open(sys.argv[1]))["log"]["entries"]; \
		statuses = collections.Counter(e["response"]["status"] for e in entries); \
		print(f"fuzz: {len(entries)} requests, {sum(n for s, n in statuses.items() if s >= 500)} answers >= 500;", \
		"by status:", dict(sorted(statuses.items())))' $$work/fuzz.har || true; \
	if grep -q Traceback $$log; then echo "fuzz: a traceback in the stack's log" >&2; grep -B2 -A20 Traceback $$log | head -80; exit 1; fi; \
	exit $$rc

.PHONY: test-faults
test-faults: infra lb-deps js-deps ## the fault suite (tests/faults: kills workers, brokers, the database, gateways under load; ~6 min)
	$(PY) -m pytest -p no:cacheprovider -m faults -v --durations=0 $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## only the unit tests (no servers)
	$(PY) -m pytest -p no:cacheprovider -m unit $(PYTEST_ARGS)

.PHONY: lint
lint: install $(JS_PKG_STAMP) ## ruff (lint + format), mypy, import-linter (the package boundaries in pyproject.toml), clients/js type drift + tsc
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	cd $(JS_PKG) && PYTHON=$(abspath $(PY)) npm run check --silent

.PHONY: bench
bench: infra ## run the benchmarks in bench/ (figures, not pass/fail)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

.PHONY: clean
clean: ## remove the venv and caches inside the checkout (the server build cache stays)
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
