# Two commands a new machine needs: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install tools demo test bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# promtool (Debian's `prometheus`) tests the alert rules in deploy/prometheus. CI runs as root and
# installs it; elsewhere a missing promtool only prints how to get it (its tests then skip, or fail
# when CI is set).
tools:
	@command -v promtool >/dev/null || { \
	  if [ -n "$$CI" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "promtool not found: apt-get install prometheus (the alert-rule tests need it)"; fi; }

demo: install
	$(BIN)/ras demo --recordings 5

test: install tools
	$(BIN)/ruff check .
	$(BIN)/dg check defs
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench
