# Driver KB. `make run` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Our own starter content, plus the shared corpus when it is there (first build 15-20 min on 2 cores, then
# incremental). Other sources: KB_SOURCES="path/to/corpus.tar.gz other/folder"; starter only: KB_SOURCES= make run
STARTER := data/handbook data/scripts
KB_CORPUS_DIR ?= ../shared/corpus
CORPUS_SOURCES := windows-driver-docs.tar.gz windows-driver-docs-ddi.tar.gz seeds driver-samples.json.gz \
                  driver-samples-readmes.tar.gz
KB_SOURCES ?= $(wildcard $(addprefix $(KB_CORPUS_DIR)/,$(CORPUS_SOURCES)))

.PHONY: help install run build serve test test-fast browser bench eval lint loadtest clean

help:
	@echo "make run        create the virtualenv, install, ingest the starter content and the shared corpus (KB_SOURCES), serve on :5000"
	@echo "make test       install what tests need (incl. headless Chromium) and run the whole suite"
	@echo "make test-fast  tests without the real model, the browser or the corpus-wide checks"
	@echo "make eval       kb eval on the current KB"
	@echo "make loadtest   16 clients for 60 s against kb serve (loopback only) on KB_DATA_DIR"
	@echo "make lint       ruff"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: make PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

build: install
	$(BIN)/kb ingest $(STARTER) $(KB_SOURCES) || [ $$? -eq 3 ]

serve: install
	$(BIN)/kb serve

run: build serve

browser:
	bash scripts/install-browser.sh

test: install browser
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m 'not slow and not browser'

eval: install
	$(BIN)/kb eval

bench: install
	$(BIN)/kb bench

bench-quick: install
	$(BIN)/kb bench --limit 300

loadtest: install
	$(BIN)/python scripts/loadtest.py --clients 16 --seconds 60

lint: install
	$(BIN)/ruff check kb ingest webapp kbcli tests

clean:
	rm -rf $(VENV) kb-data test-artifacts .pytest_cache
