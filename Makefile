# patientavgift – build and test targets.
#   make book   builds the handbook into _build/html (the README's first command)
#   make test   the full test suite (the README's second command; CI runs it via .ci/run)
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
SEEDS   = ../shared/tools/verbatim_check.py
PORT   ?= 8000

.PHONY: benchmark notebooks install browser-deps book build-book check-html serve test test-thorough lint types unit chapters golden nbval browser cases check verbatim clean

$(BIN)/patientavgift: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/patientavgift          ## create .venv with the pinned library, book and test dependencies

AXE = tests/browser/axe/node_modules/axe-core/axe.min.js

browser-deps: $(AXE)                    ## Debian's Chromium for the browser test (no browser download), axe-core
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null && echo "chromium installed"; fi

$(AXE): tests/browser/axe/package.json tests/browser/axe/package-lock.json  ## the pinned accessibility checker (npm)
	@command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null)
	cd tests/browser/axe && npm ci --no-audit --no-fund --silent
	touch $@

book: install build-book check-html     ## build the handbook into _build/html (every chapter executed afresh)
	@echo "The handbook is built. Open $(CURDIR)/_build/html/index.html, or run 'make serve' and browse http://127.0.0.1:$(PORT)/"

build-book: install
	@$(BIN)/python scripts/publish_gate.py
	rm -rf _build/html _build/jupyter_execute _build/.doctrees
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build --all -W -n --keep-going . ; rc=$$?; \
	echo "book build: $$(( $$(date +%s) - start )) s"; exit $$rc

check-html:                             ## every chapter in _toc.yml has its HTML page
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/browser/test_site.py::test_every_chapter_has_html

serve:                                  ## preview the built handbook on 127.0.0.1:$(PORT)
	@test -f _build/html/index.html || $(MAKE) book
	@echo "Serving http://127.0.0.1:$(PORT)/ (Ctrl+C to stop)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

lint: install                           ## ruff: lint and formatting
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks

types: install                          ## mypy (strict), the library and the tests
	$(BIN)/mypy

unit: install                           ## pytest: library tests and every case as its own test
	$(BIN)/pytest -q -m "not chapters and not browser"

test-thorough: install                  ## the unit tests with 500 random examples per property test (25 in `unit`)
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest -q -m "not chapters and not browser"

chapters: install                       ## every chapter executes and matches its recorded outputs
	$(BIN)/pytest -q -m chapters

golden: install                         ## record the chapters' outputs after an intended change (review the diff!)
	UPDATE_GOLDEN=1 $(BIN)/pytest -q -m chapters

nbval: install                          ## the analysis notebooks still give their recorded outputs
	$(BIN)/pytest -q -p no:cacheprovider --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg notebooks

browser: install browser-deps           ## the built site in Chromium: pages, tables, search, links, screenshots
	$(BIN)/pytest -q -m browser tests/browser

check: install                          ## validate every rule file and case
	$(BIN)/patientavgift check cases

cases: install                          ## run the case corpus through the command line
	$(BIN)/patientavgift cases cases

verbatim:                               ## no sentence copied from a source document
	@if [ -f $(SEEDS) ]; then $(PYTHON) $(SEEDS) . && echo "verbatim check: nothing copied from the sources"; else echo "source documents not beside the project; verbatim check skipped"; fi

test: lint types unit check cases chapters nbval book browser verbatim

clean:
	rm -rf $(VENV) _build .mypy_cache .ruff_cache .pytest_cache src/*.egg-info

benchmark: install                      ## contacts per second and peak memory, 1 M and 10 M synthetic contacts
	$(BIN)/python benchmarks/price_register.py

notebooks: install                      ## re-execute the analysis notebooks and store their outputs
	$(BIN)/python scripts/execute_notebooks.py notebooks/*.ipynb
