# The two commands a new machine needs: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo serve test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Firebreak needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: install  ## Load the sample scenario into the embedded SQLite database and serve it.
	$(BIN)/firebreak demo

serve: install
	$(BIN)/firebreak serve

test: install  ## The whole suite, on SQLite and PostgreSQL (what CI runs); installs Debian's chromium if missing.
	scripts/ensure-chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

bench: install  ## Every benchmark script; each prints its figures.
	$(BIN)/python bench/import_throughput.py
	$(BIN)/python bench/webhook_throughput.py
	$(BIN)/python bench/pipeline_throughput.py
	$(BIN)/python bench/triage_throughput.py
	$(BIN)/python bench/workflow_throughput.py
	$(BIN)/python bench/sla_scheduler.py
	$(BIN)/python bench/web_pages.py

clean:
	rm -rf $(VENV) firebreak-data .pytest_cache
