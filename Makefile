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

# apt packages tests need; installed when missing (as root), else a loud failure naming them.
# git, python3-venv: the deployment guide test installs botrunner the way docs/deployment.md says;
# systemd: systemd-analyze verifies the shipped unit files.
test-deps:
	@missing=""; \
	command -v git >/dev/null 2>&1 || missing="$$missing git"; \
	/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y $$missing || { echo "make test-deps: could not install:$$missing" >&2; exit 1; }; \
	  else echo "make test-deps: missing apt packages:$$missing (run: sudo apt-get install -y$$missing)" >&2; exit 1; fi; \
	fi

test: install-test lint test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-bench
	$(BIN)/python benchmarks/compare.py $(BENCH_ARGS)

emulator: install
	$(BIN)/botrunner emulator

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache
