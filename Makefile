# Two entry points for a fresh machine (see README):
#   make run   - the main job end to end: data, training, evaluation, report
#   make test  - lint and the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A local LFW copy to import: LFW=path, else ../shared/lfw where it exists. Without one, `siamface
# run` uses the copy already in the data home, else downloads LFW (as `siamface data fetch`).
LFW    ?= $(wildcard ../shared/lfw)
STAMP  := $(VENV)/.installed

.PHONY: install run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: 2.13.0 is the CPU wheel on this machine's disk (no torchvision: it breaks with it)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/siamface run $(if $(LFW),--import $(LFW))

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
