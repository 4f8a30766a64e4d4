# Two entry points (see README): `make run` and `make test`. Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# Where pip gets torch; empty: the default index (PyPI's Linux wheel is the CUDA build, GBs).
# On ordinary Linux without a GPU: make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_INDEX_ARG := $(if $(strip $(TORCH_INDEX)),--index-url $(TORCH_INDEX),)
# `make test` first installs missing system packages (PostgreSQL, Chromium) when run as root with
# apt-get (scripts/system-deps.sh). SYSTEM_DEPS=0 skips that step; their tests then skip (fail in CI).
SYSTEM_DEPS ?= 1
SYSTEM_DEPS_STEP := $(if $(filter 0 no false,$(SYSTEM_DEPS)),,system-deps)

.PHONY: install install-dev system-deps run lint test test-fast bench clean

# What `make run` needs: torch (from TORCH_INDEX) and the package, with pip's progress shown.
$(VENV)/.installed-run: pyproject.toml
	python3 -m venv $(VENV)
	@echo "Installing $(TORCH_SPEC)$(if $(strip $(TORCH_INDEX)), from $(TORCH_INDEX),) and hyperopt-cli into $(VENV) ..."
	$(PY) -m pip install --progress-bar on $(TORCH_INDEX_ARG) "$(TORCH_SPEC)"
	$(PY) -m pip install --progress-bar on -e .
	touch $@

# `make test` and `make bench` add the dev extra (pytest, the server, Chromium's driver, ...).
$(VENV)/.installed: $(VENV)/.installed-run
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed-run

install-dev: $(VENV)/.installed

run: install
	$(VENV)/bin/hyperopt start

system-deps:
	@bash scripts/system-deps.sh

# The linter, the type checker and the layer contracts (pyproject.toml), before any test runs.
lint: install-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: install-dev $(SYSTEM_DEPS_STEP) lint
	$(PY) -m pytest -q

test-fast: install-dev
	$(PY) -m pytest -q -m "not slow"

bench: install-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
