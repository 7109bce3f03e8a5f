# Two set-up commands: `make demo` and `make test`. Both work on a fresh clone with Python 3.10+ and make.
PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(AIRFLOW_VERSION)

.PHONY: install lint typecheck test test-fast test-matrix test-pythons package-check production-run ci demo bench clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip -q
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/python -m uv pip install -q -p $(BIN)/python -e '.[test]' 'apache-airflow==$(AIRFLOW_VERSION)'
	touch $@

install: $(INSTALLED)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: install
	$(BIN)/pytest -q -m "not integration"

# The lowest supported Airflow release, in its own venv (.venv-airflow-<version>).
test-matrix: install
	scripts/test_matrix.sh

# The fast tests (no Airflow run, no service stack, no browser) on every supported Python but .venv's (3.10,
# 3.12 and 3.13 here), each in its own venv (.venv-py<version>); make test runs the whole suite on .venv's.
test-pythons: install
	scripts/test_pythons.sh

# Build the sdist and wheel, install the wheel into a clean venv, and have Airflow discover the provider.
package-check: install
	scripts/check_package.sh

# The system tests (tests/system, marker `system`, left out of `make test`): PostgreSQL and the scheduler,
# dag-processor, triggerer and api-server, on the sandbox; the auto-join run on the CeleryExecutor (two
# workers, Redis), then with the LocalExecutor the everyday run, the faults (a killed task, scheduler
# and triggerer, Truto down) and Truto's webhooks. Prints a table of figures at the end. The webhooks'
# module runs on the lowest supported Airflow too (its plugin and asset events are version-sensitive).
production-run: install
	$(BIN)/pytest -q -p no:cacheprovider -m system tests/system
	PYTEST_ARGS="-m system tests/system/test_webhooks.py" scripts/test_matrix.sh

# Everything CI runs.
ci: test test-matrix test-pythons package-check production-run

demo: install
	$(BIN)/python scripts/demo.py

bench: install
	$(BIN)/python benchmarks/bench_import.py
	$(BIN)/python benchmarks/bench_call_overhead.py
	$(BIN)/python benchmarks/bench_auto_join.py

clean:
	rm -rf $(VENV) .venv-airflow-* .venv-py* .airflow build dist *.egg-info
