# oms — two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo replay-demo test lint typecheck layers pytest bench clean

# The hot path is compiled at install (setup.py, oms/native.py): a change to one of its
# sources reinstalls, so that `make test` and `make demo` never run a stale build.
NATIVE_SOURCES := $(shell $(PYTHON) oms/native.py)

$(STAMP): pyproject.toml setup.py mypyc.ini oms/native.py $(NATIVE_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

DEMO_DB ?= oms.db
DEMO_SECONDS ?= 20

## demo: the embedded Bybit-compatible sandbox with faults switched on (first login refused,
## a connection dropped, corrupted frames) and the OMS running against it for about 20 s
## with the live view; then the final orders and positions, and whether $(DEMO_DB) equals
## the sandbox's truth (exit status 1 if not)
demo: $(STAMP)
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/oms run --env sandbox --db $(DEMO_DB) --duration $(DEMO_SECONDS)
	@echo "state written to $(DEMO_DB): try  sqlite3 $(DEMO_DB) 'select * from net_positions'"

## replay-demo: replay the bundled recorded session (duplicates, reordering, corrupt frames)
replay-demo: $(STAMP)
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/oms -v replay tests/data/sample-dirty.jsonl.gz --db $(DEMO_DB) --summary
	$(BIN)/oms inspect --db $(DEMO_DB) positions

## test: lint, type-check, check the layering (import-linter contracts in pyproject.toml)
## and run the whole test suite
test: lint typecheck layers pytest

lint: $(STAMP)
	$(BIN)/ruff check oms tests bench scripts alembic setup.py
	$(BIN)/ruff format --check oms tests bench scripts alembic setup.py

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest

## bench: decode+ledger against the JSON-parse floor (bench/results.json), then the durable
## pipeline into a SQLite file against a raw sqlite3 floor (bench/results-store.json), then
## the pipeline's peak memory at 100k and 1M frames (bench/results-memory.json), then one
## frame of 10k and 40k elements (bench/results-large-frames.json: linear, not quadratic),
## then the commands as whole processes against floors run beside them: replay --json,
## replay --db, oms --help, and replay --db's peak RSS and output at 1M frames
## (bench/results-commands.json)
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/store.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/large_frames.py
	$(BIN)/python bench/commands.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info oms/native-build.json
	find oms -name '*.so' -delete
