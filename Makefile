# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
# Each creates the local virtual environment .venv when it is missing or out of date.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo serve test lint typecheck unit bench clean

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements/constraints.txt -e '.[dev,load,redis]'
	touch $(STAMP)

tests/ts/node_modules/.installed: tests/ts/package.json tests/ts/package-lock.json
	cd tests/ts && npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(STAMP)
	$(VENV)/bin/busysignal serve

serve: $(STAMP)
	$(VENV)/bin/busysignal serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP) tests/ts/node_modules/.installed
	$(VENV)/bin/pytest -n 2 --benchmark-disable $(PYTEST_ARGS)

test: lint typecheck unit

bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks.throughput
	$(VENV)/bin/pytest benchmarks --benchmark-only -p no:xdist

clean:
	rm -rf $(VENV) tests/ts/node_modules
