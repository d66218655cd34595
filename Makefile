# Every target sets itself up: a fresh clone needs only python3 (>= 3.11) and make.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
SRC := mmnoise reference_models tests examples benchmarks

.PHONY: install demo test lint typecheck unit install-check docs-build docs bench bench-cuda import-time clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m reference_models demo

lint: install
	$(VENV)/bin/ruff check $(SRC)

typecheck: install
	$(VENV)/bin/mypy mmnoise reference_models benchmarks

# the suite includes tests/test_packaging.py: wheel -> fresh venv without extras -> import all
unit: install
	$(VENV)/bin/pytest

install-check: install
	$(VENV)/bin/pytest -q tests/test_packaging.py

# --strict turns every warning (broken link, missing page, bad reference) into a failure; no
# --quiet, which would hide them.
docs-build: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

test: lint typecheck unit docs-build

docs: install
	$(VENV)/bin/mkdocs serve

# `make bench` times on the CPU; `make bench DEVICE=cuda` (or `make bench-cuda`) on the GPU, peers
# there too. BENCH_ARGS passes more options, e.g. BENCH_ARGS="--quick --only features,small".
DEVICE ?= cpu
BENCH_ARGS ?=
bench: install
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m benchmarks --device $(DEVICE) $(BENCH_ARGS)

bench-cuda:
	$(MAKE) bench DEVICE=cuda

import-time: install
	$(PY) -m benchmarks.import_time --top 15

clean:
	rm -rf site build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
