# oms — two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

DEMO_DB ?= oms.db

## demo: replay the bundled recorded session (duplicates, reordering, corrupt frames and all)
## into a fresh $(DEMO_DB), then print the stored orders and positions
demo: $(STAMP)
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/oms -v replay tests/data/sample-dirty.jsonl.gz --db $(DEMO_DB) --summary
	$(BIN)/oms inspect --db $(DEMO_DB) positions
	@echo "state written to $(DEMO_DB): try  sqlite3 $(DEMO_DB) 'select * from net_positions'"

## test: lint, type-check and run the whole test suite
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check oms tests bench scripts alembic
	$(BIN)/ruff format --check oms tests bench scripts alembic

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

## bench: decode+ledger against the JSON-parse floor (bench/results.json), then the durable
## pipeline into a SQLite file against a raw sqlite3 floor (bench/results-store.json)
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/store.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
