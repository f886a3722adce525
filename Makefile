# The front door: `make run` serves the bundled profiles, `make test` runs the whole suite.
# Both create the virtualenv and install fakeorigin into it first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=
DOCKER ?= docker
IMAGE ?= fakeorigin
# make bench: about 6 minutes; writes bench/RESULTS.md. BENCH_ARGS='--smoke' for a quick check,
# '--parts trickle' for one part, '--source DIR' to measure another checkout against the peers.
BENCH_ARGS ?=

.PHONY: help install run test lint format docs screenshot matrix matrix-tools hadolint docker bench bench-tools load test-tools clean

help:
	@echo "make run     serve the bundled profiles on http://127.0.0.1:8080 (ARGS='--profile hang')"
	@echo "make test    lint, then the whole test suite (installs curl, node, nginx, haproxy with apt-get if missing)"
	@echo "make lint    ruff and mypy --strict"
	@echo "make docker  build the image (needs a Docker engine)"
	@echo "make bench   benchmarks next to twisted.web, aiohttp, autobahn (needs wrk)"

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/fakeorigin serve $(ARGS)

# Tests drive fakeorigin with clients no one here wrote: curl, Node.js's http client (llhttp)
# for the violation catalogue's verdicts, nginx and HAProxy in front for the keep-alive race
# (each run in the foreground by the test: a policy-rc.d keeps apt from starting their services),
# and Debian's chromium, driven by Playwright, for the journal page.
TEST_PACKAGES := curl nodejs nginx haproxy chromium nghttp2-client
test-tools:
	@missing=""; for tool in curl node nginx haproxy chromium h2load; do \
	  PATH="$$PATH:/usr/sbin" command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    guard=""; [ -e /usr/sbin/policy-rc.d ] || { guard=1; \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }; \
	    apt-get update -qq && apt-get install -y -qq $(TEST_PACKAGES) >/dev/null; status=$$?; \
	    [ -z "$$guard" ] || rm -f /usr/sbin/policy-rc.d; exit $$status; \
	  else echo "make test needs$$missing: install them (e.g. sudo apt-get install $(TEST_PACKAGES))"; \
	    exit 1; fi; }

test: install test-tools lint hadolint
	$(BIN)/fakeorigin check
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check fakeorigin tests matrix
	$(BIN)/ruff format --check fakeorigin tests matrix
	$(BIN)/mypy

format: install
	$(BIN)/ruff format fakeorigin tests matrix
	$(BIN)/ruff check --fix fakeorigin tests matrix

# Dockerfile lint: every rule, none ignored (an ignore needs an inline reason).
hadolint: install
	$(BIN)/hadolint --failure-threshold style docker/Dockerfile

# The image, where a Docker engine runs: a docker client alone is not enough (`docker info`).
# Without one, `make test` still checks it: hadolint and tests/test_container_contract.py.
docker:
	@if ! $(DOCKER) info >/dev/null 2>&1; then \
	  echo "make docker: no Docker engine answers ('$(DOCKER) info' failed), nothing built."; \
	  echo "'make test' checks the image without one (hadolint, tests/test_container_contract.py)."; \
	  exit 1; \
	fi
	$(DOCKER) build -f docker/Dockerfile -t $(IMAGE) .

# The long load run (2,000 connections for 30 s, about a minute); figures in docs/reliability.md.
load: install
	$(BIN)/pytest -m load -s tests/reliability/test_load.py

bench-tools:
	@{ command -v wrk && command -v h2load; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk nghttp2-client >/dev/null; \
	  else echo "make bench needs wrk and h2load: install them (sudo apt-get install wrk nghttp2-client)"; \
	    exit 1; fi; }

bench: install bench-tools
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# docs/profiles.md and docs/violations.md (with profiles/violation-*.yaml) are generated from the
# model and the catalogue; tests fail when they are stale.
docs: install
	$(BIN)/python -m fakeorigin.docgen.catalogue_doc docs/violations.md
	$(BIN)/python -m fakeorigin.docgen.reference docs/profiles.md

# The proxy matrix (docs/proxy-matrix.md): every probe scenario through eight proxies from
# Debian's packages, each run in the foreground with its configuration from matrix/.
MATRIX_PACKAGES := nginx haproxy caddy h2o apache2 varnish squid trafficserver
matrix-tools:
	@missing=""; for tool in nginx haproxy caddy h2o apache2 varnishd squid traffic_server; do \
	  PATH="$$PATH:/usr/sbin" command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    guard=""; [ -e /usr/sbin/policy-rc.d ] || { guard=1; \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }; \
	    apt-get update -qq && apt-get install -y -qq $(MATRIX_PACKAGES) >/dev/null; status=$$?; \
	    [ -z "$$guard" ] || rm -f /usr/sbin/policy-rc.d; exit $$status; \
	  else echo "make matrix needs$$missing: install them (e.g. sudo apt-get install $(MATRIX_PACKAGES))"; \
	    exit 1; fi; }

matrix: install matrix-tools
	$(BIN)/python matrix/run.py

# The README's picture of the journal page (docs/ui.png): a real server, real requests, chromium.
screenshot: install test-tools
	$(BIN)/python -m tests.ui_screenshot docs/ui.png

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache dist build
