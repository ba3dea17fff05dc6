# Two commands do all set-up on a fresh machine:
#   make demo   install, build the shipped knowledge base, predict + explain + score a few proteins
#   make test   install, lint (ruff) and run the test suite (what CI runs)
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install demo test lint bench

install:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"

demo: install
	bash scripts/demo.sh

test: install
	$(MAKE) --no-print-directory lint
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check kb psl cli tests benchmarks
