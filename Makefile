# Two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.vslerp-installed
# Extra arguments for the demo, e.g. `make demo ARGS="--model tiny"`.
ARGS   ?=
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k conformity"`.
PYTEST_ARGS ?=

.PHONY: install demo test lint bench browser clean

# The stamp is newer than pyproject.toml/constraints.txt once they are installed, so a
# second `make` installs nothing.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# Chromium for the browser tests (Debian's package; installed only when missing and root).
browser:
	@sh scripts/ensure-browser.sh

demo: $(STAMP)
	$(VENV)/bin/vslerp ui $(ARGS)

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/bench_conformity.py
	$(PY) benchmarks/bench_grid.py
	$(PY) benchmarks/bench_encode.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
