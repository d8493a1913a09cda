# Two commands matter on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Airflow is large: let Python cache its bytecode, or every test process recompiles it (~10 s).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo test test-lowest test-matrix lint typecheck unit bench bench-smoke build check-dist check-wheel docs clean

# Airflow releases `make test-matrix` runs the suite on: the lowest supported and the newest.
# Each has a pin list in ci/pins/airflow-<release>.txt; NEWEST is also what `make test` uses.
LOWEST ?= 3.0
NEWEST ?= 3.3
MATRIX := .matrix

# Create the virtualenv and install the provider with the dev dependency group (uv for speed;
# `uv pip install --group` needs uv >= 0.7.3, which pip installs here).
$(STAMP): pyproject.toml ci/pins/airflow-$(NEWEST).txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'uv>=0.7.3'
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e . --group dev \
		-c ci/pins/airflow-$(NEWEST).txt
	touch $(STAMP)

# One virtualenv per release under .matrix/, with that release's pins.
$(MATRIX)/airflow-%/.installed: pyproject.toml ci/pins/airflow-%.txt | $(STAMP)
	test -x $(MATRIX)/airflow-$*/bin/python || $(BIN)/uv venv --quiet --python $(PYTHON) $(MATRIX)/airflow-$*
	$(BIN)/uv pip install --quiet --python $(MATRIX)/airflow-$*/bin/python -e . --group dev \
		-c ci/pins/airflow-$*.txt -r ci/pins/airflow-$*.txt
	touch $@

install: $(STAMP)

## demo: start the sandbox, run the example_inventory_sync DAG against it, print what it fetched.
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

## test: lint, type-check and run the whole test suite (on the newest Airflow).
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

## test-lowest: the test suite on the lowest supported Airflow ($(LOWEST)), in its own virtualenv.
test-lowest: $(MATRIX)/airflow-$(LOWEST)/.installed
	@echo "==> Airflow $$($(MATRIX)/airflow-$(LOWEST)/bin/python -c 'import airflow; print(airflow.__version__)' 2>/dev/null | tail -n 1)"
	$(MATRIX)/airflow-$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider

## test-matrix: the test suite on the lowest supported Airflow ($(LOWEST)) and the newest ($(NEWEST)),
## each in its own virtualenv (the newest is the one `make test` uses).
test-matrix: test-lowest $(STAMP)
	@echo "==> Airflow $$($(BIN)/python -c 'import airflow; print(airflow.__version__)' 2>/dev/null | tail -n 1)"
	$(BIN)/pytest -q

## build: the wheel and sdist in dist/; check-dist: build them and run `twine check --strict`.
build: $(STAMP)
	rm -rf dist
	$(BIN)/uv build --quiet

check-dist: build
	$(BIN)/twine check --strict dist/*

## check-wheel: install the built wheel on the lowest and newest Airflow, import it, and check
## that Airflow lists the provider and both connection types.
check-wheel: build
	bash scripts/check_wheel.sh $(BIN)/uv $(LOWEST) $(NEWEST)

## docs: the documentation site in docs/_build/html (Sphinx, MyST pages, the API reference from
## the docstrings); every warning and every unresolved reference fails it. -E re-reads every page,
## so a warning in an unchanged page is not hidden by an incremental build.
$(VENV)/.docs-installed: pyproject.toml | $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --group docs -c ci/pins/airflow-$(NEWEST).txt
	touch $@

docs: $(VENV)/.docs-installed
	$(BIN)/sphinx-build -b html -E -W --keep-going -n -q docs docs/_build/html
	INVENTORY_DOCS_BUILT=1 $(BIN)/pytest -q -p no:cacheprovider tests/test_docs.py -k built_api_reference
	@echo "==> docs/_build/html/index.html"

## bench: the full benchmarks (minutes); bench-smoke: small sizes, correctness only.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.run --smoke

clean:
	rm -rf $(VENV) $(MATRIX) dist .demo .mypy_cache .ruff_cache .pytest_cache docs/_build docs/api
