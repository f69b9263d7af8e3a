# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
# Each creates the local virtual environment .venv when it is missing or out of date: `make demo`
# installs only what the demo needs (the runtime dependencies and the `demo` extra), `make test`
# the whole dev toolchain (which includes all the demo needs).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -c requirements/constraints.txt
PYTEST_ARGS ?=

SDK1_VENV ?= .venv-sdk1
SDK1_STAMP := $(SDK1_VENV)/.installed

.PHONY: demo serve test lint typecheck unit stressed sdk1 services bench clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP_INSTALL) -q -e '.[dev,load,redis]'
	touch $(STAMP) $(DEMO_STAMP)

# The demo's own, smaller install; pip's progress is shown (a first run downloads for a while).
$(DEMO_STAMP): pyproject.toml requirements/constraints.txt
	@echo "make demo: installing busysignal and what the demo needs (aiohttp, pydantic, PyYAML, the"
	@echo "  anthropic SDK; matplotlib for the chart, tenacity for the article recipe) into $(VENV) ..."
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP_INSTALL) -e '.[demo]'
	touch $(DEMO_STAMP)
	@echo "make demo: installed; starting the demo"

# A second, small environment with the newest 1.x SDK: users run both majors, so the
# status -> exception mapping tests, and every route family the 1.x SDK has (test_sdk1_*.py:
# happy path and a real error, sync and async, strict validation), run against both.
$(SDK1_STAMP): pyproject.toml requirements/sdk1.txt requirements/constraints.txt
	test -x $(SDK1_VENV)/bin/python || python3 -m venv $(SDK1_VENV)
	grep -v '^anthropic==' requirements/constraints.txt > $(SDK1_VENV)/constraints.txt
	$(SDK1_VENV)/bin/python -m pip install -q --disable-pip-version-check -c $(SDK1_VENV)/constraints.txt -r requirements/sdk1.txt -e .
	touch $(SDK1_STAMP)

tests/mockserver/ts/node_modules/.installed: tests/mockserver/ts/package.json tests/mockserver/ts/package-lock.json
	cd tests/mockserver/ts && npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(DEMO_STAMP)
	$(VENV)/bin/busysignal demo

serve: $(DEMO_STAMP)
	$(VENV)/bin/busysignal serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The Redis cache and Celery tests start their own redis-server on a free loopback port, and the
# stressed stage saturates the CPUs with stress-ng; this makes sure both binaries are there
# (Debian's packages, installed only when missing; needs root, as on CI).
services:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "the Redis tests need redis-server: sudo apt-get install redis-server" >&2; exit 1; fi; }
	@command -v stress-ng >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null; \
	  else echo "the stressed stage needs stress-ng: sudo apt-get install stress-ng" >&2; exit 1; fi; }

unit: $(STAMP) tests/mockserver/ts/node_modules/.installed services
	$(VENV)/bin/pytest -n 2 --benchmark-disable $(PYTEST_ARGS)

# The whole suite a second time with both CPUs saturated: a test that judges this machine's speed
# instead of what the code decides fails here. stress-ng is stopped when the tests end, pass or
# fail (trap); its --timeout is a fuse should make itself be killed.
stressed: $(STAMP) tests/mockserver/ts/node_modules/.installed services
	@echo "stressed: the suite again under stress-ng --cpu 2"
	@stress-ng --cpu 2 --timeout 30m --quiet & stress=$$!; \
	  trap 'kill $$stress 2>/dev/null; wait $$stress 2>/dev/null' EXIT INT TERM; \
	  $(VENV)/bin/pytest -n 2 --benchmark-disable $(PYTEST_ARGS)

sdk1: $(SDK1_STAMP)
	$(SDK1_VENV)/bin/pytest -q tests/mockserver/test_sdk_mapping*.py tests/mockserver/test_sdk1_*.py tests/mockserver/test_complete.py

test: lint typecheck unit sdk1 stressed

bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks.throughput
	$(VENV)/bin/pytest benchmarks --benchmark-only -p no:xdist

clean:
	rm -rf $(VENV) $(SDK1_VENV) tests/mockserver/ts/node_modules
