# Every target bootstraps .venv itself, so each works from a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
BENCH_STAMP := $(VENV)/.bench-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: venv test lint typecheck imports unit bench serve clean

$(STAMP):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[all]' --group dev
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench docs
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider --cov --cov-report=term --cov-fail-under=85 $(PYTEST_ARGS)

test: lint unit

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --group bench
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run_all.py

serve: $(STAMP)
	$(BIN)/llm-infra serve

clean:
	rm -rf $(VENV) .coverage* htmlcov .mypy_cache .ruff_cache
