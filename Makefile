# Two commands matter on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Airflow is large: let Python cache its bytecode, or every test process recompiles it (~10 s).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo test test-lowest test-matrix test-latest locks lint typecheck unit bench bench-smoke build check-dist check-wheel docs clean

# Airflow releases CI runs the suite on: the lowest supported and the newest (`make test` uses
# NEWEST). Each has a complete lock of its whole environment in ci/locks/airflow-<release>.txt:
# every transitive dependency of the provider, its extras and its dev group, resolved by
# `make locks` from ci/locks/airflow-<release>.in with only the packages uploaded before that
# release's LOCK_DATE (as Airflow's own constraints files are made), so a CI result depends only
# on the commit. `make test-latest` checks today's unpinned dependencies (not part of CI).
LOWEST ?= 3.0
NEWEST ?= 3.3
MATRIX := .matrix
# uv resolves and installs; its version is pinned so that `make locks` is reproducible.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
# 3.0.2 was released on 2025-06-10 and 3.0.3 on 2025-07-14: the lock is 3.0.2's own era.
LOCK_DATE_3.0 := 2025-07-01T00:00:00Z
# Exceptions to a release's era, each a floor in pyproject.toml: urllib3 >= 2.6.3 (bounded
# decompression) came out in January 2026.
LOCK_NEWER_3.0 := --exclude-newer-package urllib3=2026-01-08T00:00:00Z
# Dependency groups beyond dev in a release's lock: the docs are built on the newest only.
LOCK_GROUPS_3.3 := docs
# The newest release tracks the present: move this date forward on purpose, in a commit of its own.
LOCK_DATE_3.3 := 2026-12-01T00:00:00Z
LOCK_PYTHON := 3.10
# The lowest Airflow release runs on the lowest Python the provider supports (requires-python),
# the newest on $(PYTHON): the matrix covers both ends of both. pyenv's interpreter is taken when
# its shim does not answer (a version that is installed but not selected).
LOWEST_PYTHON_VERSION := 3.10
LOWEST_PYTHON ?= $(or $(shell python$(LOWEST_PYTHON_VERSION) -c pass 2>/dev/null && echo python$(LOWEST_PYTHON_VERSION)),$(lastword $(wildcard $(HOME)/.pyenv/versions/$(LOWEST_PYTHON_VERSION).*/bin/python$(LOWEST_PYTHON_VERSION))),python$(LOWEST_PYTHON_VERSION))
# Every optional extra of pyproject.toml (the locks take them all with --all-extras).
EXTRAS := parquet,redis
# uv uses the machine's interpreters; it never downloads one (this network has no route for it).
export UV_PYTHON_DOWNLOADS := never

# Install a whole environment from a lock: every package at its locked version, nothing
# resolved, then the provider itself (editable), then a check that nothing is missing.
# $(1): the virtualenv's python, $(2): the release.
define install_locked
	$(UV) pip install --quiet --python $(1) --no-deps -r ci/locks/airflow-$(2).txt
	$(UV) pip install --quiet --python $(1) --no-deps -e .
	$(UV) pip check --quiet --python $(1)
endef

# The virtualenv with uv in it (the one tool not installed from a lock).
$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'

# The development virtualenv: the newest release's lock.
$(STAMP): pyproject.toml ci/locks/airflow-$(NEWEST).txt | $(UV)
	$(call install_locked,$(BIN)/python,$(NEWEST))
	touch $(STAMP)

# One virtualenv per release under .matrix/, from that release's lock.
$(MATRIX)/airflow-%/.installed: pyproject.toml ci/locks/airflow-%.txt | $(UV)
	test -x $(MATRIX)/airflow-$*/bin/python || $(UV) venv --quiet \
		--python $(if $(filter $*,$(LOWEST)),$(LOWEST_PYTHON),$(PYTHON)) $(MATRIX)/airflow-$*
	$(call install_locked,$(MATRIX)/airflow-$*/bin/python,$*)
	touch $@

## locks: resolve ci/locks/airflow-<release>.txt again from its .in file, pyproject.toml and the
## release's LOCK_DATE. The same dates and uv version give the same files.
locks: | $(UV)
	for release in $(LOWEST) $(NEWEST); do \
		$(MAKE) --no-print-directory lock-$$release || exit 1; \
	done

lock-%: | $(UV)
	@$(UV) --version | grep -q " $(UV_VERSION) " || $(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	@test -n "$(LOCK_DATE_$*)" || { echo "no LOCK_DATE_$* in the Makefile" >&2; exit 1; }
	{ \
		echo "# The whole test environment for Airflow $*, resolved by uv $(UV_VERSION) from"; \
		echo "# ci/locks/airflow-$*.in and pyproject.toml (all extras; groups: $(strip dev $(LOCK_GROUPS_$*)))"; \
		echo "# with only the packages uploaded before $(LOCK_DATE_$*) (--exclude-newer$(if $(LOCK_NEWER_$*),; except $(LOCK_NEWER_$*)))"; \
		echo "# for Python >= $(LOCK_PYTHON) on any platform (--universal). Made by \`make locks\`; never edit it."; \
		$(UV) pip compile --no-progress pyproject.toml ci/locks/airflow-$*.in $(addprefix --group ,dev $(LOCK_GROUPS_$*)) --all-extras \
			--universal --python-version $(LOCK_PYTHON) --exclude-newer $(LOCK_DATE_$*) $(LOCK_NEWER_$*) \
			--custom-compile-command "make locks"; \
	} > ci/locks/airflow-$*.txt.tmp
	mv ci/locks/airflow-$*.txt.tmp ci/locks/airflow-$*.txt

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
	@echo "==> Airflow $$($(MATRIX)/airflow-$(LOWEST)/bin/python -c 'import airflow; print(airflow.__version__)' 2>/dev/null | tail -n 1) on Python $$($(MATRIX)/airflow-$(LOWEST)/bin/python -c 'import platform; print(platform.python_version())')"
	$(MATRIX)/airflow-$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider

## test-matrix: the test suite on the lowest supported Airflow ($(LOWEST)) and the newest ($(NEWEST)),
## each in its own virtualenv (the newest is the one `make test` uses).
test-matrix: test-lowest $(STAMP)
	@echo "==> Airflow $$($(BIN)/python -c 'import airflow; print(airflow.__version__)' 2>/dev/null | tail -n 1)"
	$(BIN)/pytest -q

## test-latest: the test suite on the newest Airflow with today's dependencies, nothing pinned, in a
## fresh .matrix/latest. It shows an upstream release that breaks users; CI does not run it.
test-latest: | $(UV)
	rm -rf $(MATRIX)/latest
	$(UV) venv --quiet --python $(PYTHON) $(MATRIX)/latest
	$(UV) pip install --quiet --refresh --python $(MATRIX)/latest/bin/python -e ".[$(EXTRAS)]" --group dev
	@echo "==> Airflow $$($(MATRIX)/latest/bin/python -c 'import airflow; print(airflow.__version__)' 2>/dev/null | tail -n 1), today's dependencies:"
	@$(UV) pip freeze --python $(MATRIX)/latest/bin/python | grep -iE '^(apache-airflow|apache-airflow-core|apache-airflow-task-sdk|cryptography|fastapi|pydantic|sqlalchemy|universal-pathlib|requests|urllib3)==' | sed 's/^/    /'
	$(MATRIX)/latest/bin/python -m pytest -q -p no:cacheprovider

## build: the wheel and sdist in dist/; check-dist: build them and run `twine check --strict`.
build: $(STAMP)
	rm -rf dist
	$(UV) build --quiet

check-dist: build
	$(BIN)/twine check --strict dist/*

## check-wheel: install the built wheel on the lowest and newest Airflow, import it, and check
## that Airflow lists the provider and both connection types.
check-wheel: build
	bash scripts/check_wheel.sh $(UV) $(LOWEST) $(NEWEST)

## docs: the documentation site in docs/_build/html (Sphinx, MyST pages, the API reference from
## the docstrings); every warning and every unresolved reference fails it. -E re-reads every page,
## so a warning in an unchanged page is not hidden by an incremental build.
## The docs group is in the newest release's lock, so the development virtualenv has it.
docs: $(STAMP)
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
