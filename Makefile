# Two commands do everything on a fresh machine:
#   make demo   set up (once) and open the console on profiles/demo.toml with real bundled models
#   make test   set up (once) and run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo headless-demo test lint screenshots bench clean

setup: $(STAMP)

# llama-cpp-python compiles from source (about 5 minutes on 2 cores); pip caches the wheel,
# so later set-ups and CI reuse it instead of rebuilding.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,server,plot]"
	$(VENV)/bin/edgetui models fetch
	touch $(STAMP)

demo: setup
	$(VENV)/bin/edgetui run profiles/demo.toml

headless-demo: setup
	$(VENV)/bin/edgetui run profiles/demo.toml --headless

test: setup
	$(PY) -m pytest -q

# ruff (mistakes, not taste), mypy on the package, and the import contracts
lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

screenshots: setup
	$(PY) scripts/screenshots.py

bench: setup
	$(PY) benchmarks/overhead.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
