# make run  — install into .venv (when needed) and serve with gunicorn on $PORT (default 8000)
# make test — install the test extras into the same .venv, lint, and run the whole suite
# make demo — one export end to end on this machine: local Rossum and customer API stand-ins
# make bench — measure overhead, throughput, memory and limits (see README)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT
# The oldest Python the package claims (setup.cfg's python_requires), checked before a venv is made.
PYTHON_MIN := $(shell sed -n 's/^python_requires *= *>= *//p' setup.cfg)

.PHONY: run test demo lint bench install install-test clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; need = tuple(int(n) for n in "$(PYTHON_MIN)".split(".")); \
	sys.exit(0 if sys.version_info[:len(need)] >= need else "$(PYTHON) is Python %s; rest-api-export needs Python $(PYTHON_MIN) or newer (choose one with PYTHON=, e.g. make test PYTHON=python3.11)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

demo: install
	$(BIN)/python -m demo

# Not part of make test: it takes a few minutes and measures, rather than checks.
bench: install-test
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.limits

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
