# Two commands work on a fresh machine with only python3 and pip:
#   make demo   set up .venv and run the demo on embedded defaults
#   make test   set up .venv with the test extras, run ruff and mypy, then the whole test suite
#   make bench  botrunner vs python-telegram-bot vs aiogram on one workload; writes docs/benchmarks.md
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
# make bench BENCH_ARGS="--repeats 5 --burst 3000"
BENCH_ARGS ?=

.PHONY: demo test test-deps lint typecheck bench install install-test install-bench emulator clean

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

# files and strictness: [tool.mypy] in pyproject.toml
typecheck: install-test
	$(BIN)/mypy

# Debian packages the tests drive as real components. One `need` line per package:
# $(call need,<command>,<apt package>) installs the package when the command is missing (apt-get,
# through sudo when not root) and fails loudly, naming it, when it cannot.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
define need
	@if ! command -v $(1) >/dev/null 2>&1 && [ ! -x /usr/sbin/$(1) ]; then \
		echo "test-deps: $(1) is missing; installing the Debian package $(2)"; \
		{ command -v apt-get >/dev/null 2>&1 && { $(SUDO) apt-get install -y $(2) || \
		  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y $(2); }; }; } || \
		{ echo "test-deps: could not install $(2) (needed for $(1)): install it and rerun" >&2; exit 1; }; \
	fi
endef

# git, python3-venv: the deployment guide test installs botrunner the way docs/deployment.md says;
# systemd: systemd-analyze verifies the shipped unit files; faketime: the chaos suite's wall-clock steps;
# prometheus: promtool checks the alert rules, the dashboard's queries and a live scrape;
# chromium, chromium-driver: the Mini App's browser test (selenium drives Debian's browser and driver;
# nothing is downloaded); redis-server, redis-sentinel: the Sentinel failover tests start a master, a
# replica and three Sentinels on free ports (never the default 6379 of Debian's own service).
# redis-tools: redis-cli --cluster create joins the Redis Cluster tests' nodes (3 masters + 3 replicas, free ports).
test-deps:
	$(call need,nginx,nginx)
	$(call need,faketime,faketime)
	$(call need,promtool,prometheus)
	$(call need,chromium,chromium)
	$(call need,chromedriver,chromium-driver)
	$(call need,git,git)
	$(call need,systemd-analyze,systemd)
	$(call need,redis-sentinel,redis-sentinel)
	$(call need,redis-cli,redis-tools)
	@[ -x "$$(dirname "$$(command -v redis-sentinel)")/redis-server" ] || { \
		echo "test-deps: Debian's redis-server is missing beside redis-sentinel; installing it"; \
		$(SUDO) apt-get install -y redis-server || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y redis-server; } || \
		{ echo "test-deps: could not install redis-server: install it and rerun" >&2; exit 1; }; }
	@/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || { \
		echo "test-deps: python3-venv is missing; installing it"; \
		$(SUDO) apt-get install -y python3-venv || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y python3-venv; } || \
		{ echo "test-deps: could not install python3-venv: install it and rerun" >&2; exit 1; }; }

test: install-test test-deps lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-bench
	$(BIN)/python benchmarks/compare.py $(BENCH_ARGS)

emulator: install
	$(BIN)/botrunner emulator

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .mypy_cache .ruff_cache
