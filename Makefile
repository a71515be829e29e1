# The two commands of the README. Both create .venv from requirements.txt first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CONFIG ?= configs/default.py:full
WORKDIR ?= runs/$(subst .py:,_,$(notdir $(CONFIG)))

.PHONY: setup run test test-slow clean

setup: $(STAMP)

# The pinned dependencies, then this checkout as an editable package (so
# tests, scripts and sweep children import vit_jax from anywhere).
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Trains the default experiment (override: make run CONFIG=configs/default.py:linformer).
run: $(STAMP)
	$(VENV)/bin/python launch.py --config=$(CONFIG) --workdir=$(WORKDIR)

# Worker processes, one per core (at most 4: each holds 8 fake devices).
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n auto --maxprocesses=4 -m "not slow" tests

# Multi-process and cluster tests (minutes each); CI runs them after `test`.
test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow tests

clean:
	rm -rf $(VENV) runs
