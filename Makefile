# Two commands work on a fresh machine with only python3 and pip:
#   make demo   set up .venv and run the demo on embedded defaults
#   make test   set up .venv with the test extras and run the whole test suite
#   make bench  botrunner vs python-telegram-bot vs aiogram on one workload; writes docs/benchmarks.md
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
# make bench BENCH_ARGS="--repeats 5 --burst 3000"
BENCH_ARGS ?=

.PHONY: demo test test-deps lint bench install install-test install-bench emulator clean

# programs the tests run, as command:debian-package (apt-get installs what is missing)
TEST_DEPS ?= promtool:prometheus

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"

install-bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"

demo: install
	$(BIN)/botrunner demo

lint: install-test
	$(BIN)/ruff check .

test-deps:
	@for dep in $(TEST_DEPS); do \
	  cmd=$${dep%%:*}; pkg=$${dep#*:}; \
	  command -v $$cmd >/dev/null 2>&1 && continue; \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y $$pkg || { apt-get update -qq && apt-get install -y $$pkg; }; fi; \
	  command -v $$cmd >/dev/null 2>&1 || { echo "make test-deps: '$$cmd' is missing: install Debian's $$pkg package (apt-get install -y $$pkg)" >&2; exit 1; }; \
	done

test: install-test lint test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-bench
	$(BIN)/python benchmarks/compare.py $(BENCH_ARGS)

emulator: install
	$(BIN)/botrunner emulator

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache
