# Two commands do everything on a fresh machine:
#   make demo   set up (once) and open the console on profiles/demo.toml with real bundled models
#   make test   set up (once) and run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup browser sshd demo headless-demo test lint screenshots bench clean

setup: $(STAMP) sshd

# llama-cpp-python compiles from source (about 5 minutes on 2 cores), once per CPU: the script
# keeps the wheel under a key of this CPU's instruction sets and the build flags, so later set-ups
# and CI reuse it instead of rebuilding (and never take one built for another CPU).
$(STAMP): pyproject.toml scripts/llama-wheel.sh scripts/llama-source.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	sh scripts/llama-wheel.sh $(PY)
	$(PY) -m pip install --quiet -e ".[dev,server,plot,web,fleet]"
	$(VENV)/bin/edgetui models fetch
	sh scripts/llama-source.sh $(PY)
	@$(MAKE) --no-print-directory browser
	touch $(STAMP)

# Chromium from the distribution's packages, for the browser test of `edgetui serve`: installed
# with apt-get where it exists (as root, or through sudo without a password); anywhere else a
# note, and that one test is skipped with the reason.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: no apt-get here: install Chromium yourself for the browser test of edgetui serve (skipped without it)"; \
	else \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
		if [ "$$SUDO" = none ]; then \
			echo "note: apt-get needs root: sudo apt-get install chromium for the browser test of edgetui serve (skipped without it)"; \
		else \
			( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null ) \
			|| echo "note: apt-get could not install chromium: the browser test of edgetui serve will be skipped"; \
		fi; \
	fi

# The fleet tests start their own sshd on the loopback interface (Debian's openssh-server, its
# system service left off); without apt-get as root this says so and those tests are skipped.
sshd:
	@sh scripts/test-sshd.sh

demo: setup
	$(VENV)/bin/edgetui run profiles/demo.toml

headless-demo: setup
	$(VENV)/bin/edgetui run profiles/demo.toml --headless

test: setup lint
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
