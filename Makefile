# Two commands do all the set-up: `make serve` and `make test`. Both are idempotent: the venv is
# reinstalled only when pyproject.toml changes, and each build step skips finished work itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install models serve test test-more stress test-all clean-artifacts

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU wheel of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Each step checks its own manifest and skips finished work.
models: install
	$(BIN)/jishibang models build
	$(BIN)/jishibang kb seed
	$(BIN)/jishibang kb reindex --if-stale
	$(BIN)/jishibang train triage --if-missing
	$(BIN)/jishibang train search --if-missing

serve: models
	$(BIN)/jishibang serve --demo

# The fast tier: unit tests and in-process route tests (a few minutes once the models are built).
test: models
	$(BIN)/python -m pytest

# Real servers over HTTP, the browser, model training and the notebooks: run by .ci/run after `make test`.
test-more: models
	$(BIN)/python -m pytest -m "(integration or browser or training or notebook) and not stress and not slow"

# The long robustness suites (API fuzzing, 1,000 lost-update trials, 100 kill -9 cycles, index swaps):
# run by .ci/run after `make test`.
stress: models
	$(BIN)/python -m pytest -m stress

# Everything, including the slow evaluations.
test-all: models
	$(BIN)/python -m pytest -m ""

clean-artifacts:
	rm -rf models/artifacts
