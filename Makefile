# The two commands of the README: `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: install system-deps demo test test-fast bench-quick lint docs clean

$(VENV)/.installed: pyproject.toml constraints.txt scripts/install.sh
	bash scripts/install.sh
	touch $@

install: $(VENV)/.installed

system-deps:
	bash scripts/system-deps.sh

demo: install
	$(VENV)/bin/scanflow demo

# the whole check: lint, the import layers, every test, the doctests of the library
test: install system-deps lint
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q
	$(PY) -m pytest -q --doctest-modules src

# the speed benchmarks in their --quick form (CI runs it after the tests): each prints its tables;
# nothing is timed pass/fail, a script that fails fails the run
bench-quick: install
	$(PY) benchmarks/orchestration_overhead.py --quick
	$(PY) benchmarks/ray_vs_local.py --quick
	$(PY) benchmarks/serve_latency.py --quick
	$(PY) benchmarks/serve_throughput.py --quick
	$(PY) benchmarks/check_cost.py --quick
	$(PY) benchmarks/check_detection.py --quick

test-fast: install
	$(PY) -m pytest -q -m "not e2e and not slow and not ray"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks examples

# regenerate the reference part of docs/cli.md from the command (a test checks it is current)
docs: install
	$(PY) -m scanflow.cli.reference docs/cli.md

clean:
	rm -rf $(VENV) .pytest_cache
