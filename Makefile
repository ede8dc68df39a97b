# Set-up and everyday commands. `make demo` and `make test` do all set-up on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTAG := $(shell $(PY) -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")' 2>/dev/null)
# Project machines keep a CPU build of torch on local disk (pip's find-links, /opt/wheels):
# installing that file first keeps set-up to seconds instead of a multi-GB CUDA download.
# Elsewhere this is empty and pip resolves torch from pyproject's range like any dependency,
# so users are never pinned to this version. Override with `make TORCH_WHEEL=...`.
TORCH_WHEEL ?= $(firstword $(wildcard /opt/wheels/torch-*-$(PYTAG)-*.whl))

.PHONY: demo test lint typecheck schema check-generated clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_WHEEL),$(BIN)/python -m pip install --quiet "$(TORCH_WHEEL)")
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/synthmark demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check synthmark tests bench

typecheck: $(BIN)/.installed
	$(BIN)/mypy synthmark

schema: $(BIN)/.installed
	$(BIN)/synthmark schema export schema

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
