# Candor: `make run` starts the whole product with demo data; `make test` runs every test.
# Both install what is missing first (`make install`: idempotent, quick when nothing changed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck bench browser-deps screenshots clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, alone: with 2.13.0 (CPU) in place, nothing below asks for a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: install
	$(PY) manage.py run_all

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) manage.py makemigrations --check --dry-run

typecheck: install
	$(VENV)/bin/mypy tenants config listening ethics personalization crisis

test: install browser-deps lint typecheck
	$(VENV)/bin/pytest

# The README's screenshots come from the browser tests (each page's test takes its own).
screenshots: install browser-deps
	CANDOR_SCREENSHOTS_DIR=docs/screenshots $(VENV)/bin/pytest tests/browser -q

bench: install
	@set -e; for script in bench/*.py; do \
	  case $$script in */_*) continue;; esac; \
	  echo "== $$script"; $(PY) $$script; done

clean:
	rm -rf $(VENV) .data
