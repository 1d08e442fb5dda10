# patientavgift – build and test targets. `make test` is the full test suite (the README's command).
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
SEEDS   = ../shared/tools/verbatim_check.py

.PHONY: install test lint types unit cases check verbatim clean

$(BIN)/patientavgift: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/patientavgift          ## create .venv and install the library with pinned dependencies

lint: install                           ## ruff: lint and formatting
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

types: install                          ## mypy (strict)
	$(BIN)/mypy

unit: install                           ## pytest: library tests and every case as its own test
	$(BIN)/pytest -q

check: install                          ## validate every rule file and case
	$(BIN)/patientavgift check cases

cases: install                          ## run the case corpus through the command line
	$(BIN)/patientavgift cases cases

verbatim:                               ## no sentence copied from a source document
	@if [ -f $(SEEDS) ]; then $(PYTHON) $(SEEDS) . && echo "verbatim check: nothing copied from the sources"; else echo "source documents not beside the project; verbatim check skipped"; fi

test: lint types unit check cases verbatim

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache src/*.egg-info
