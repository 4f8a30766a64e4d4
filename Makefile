# Two entry points (see README): `make run` and `make test`. Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of PyTorch. A bare `pip install torch` would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install system-deps run test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/hyperopt start

system-deps:
	@bash scripts/system-deps.sh

test: install system-deps
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
