# The README's commands. Each target does its own set-up on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast lint bench services-up services-down ui

setup:
	@VENV=$(VENV) bash infra/setup.sh

demo: setup
	@VENV=$(VENV) bash infra/demo.sh

test: setup
	@VENV=$(VENV) bash infra/setup.sh browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow and not integration"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: setup
	HF_HUB_OFFLINE=1 $(PY) -m benchmarks.run_all

# The web page on the demo's store (make demo first to have a lecture and a job to reopen).
ui: setup
	SEGLOCATE_DATA_DIR=$(CURDIR)/.demo/store HF_HUB_OFFLINE=1 $(VENV)/bin/seglocate ui
