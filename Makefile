# Tally — the README's two commands live here: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Tests and CI: one torch thread per process (faster under contention, see STACK.md).
TEST_ENV := HF_HUB_OFFLINE=1 TORCH_THREADS=1 OMP_NUM_THREADS=1
PYTEST_ARGS ?=

.PHONY: run test lint bench check-deploy worker server clean-data

run: $(VENV)/.installed ## Bring up Tally with demo data (embedded PostgreSQL, worker, web server)
	HF_HUB_OFFLINE=1 $(PY) -m config.run

test: $(VENV)/.installed-dev ## Set up what the tests need and run them all
	bash scripts/test-prerequisites.sh
	$(TEST_ENV) $(PY) -m pytest -n $${PYTEST_WORKERS:-2} $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed-dev ## Run the benchmarks under bench/
	@for b in bench/*.py; do [ -e "$$b" ] || { echo "no benchmarks yet"; break; }; \
		echo "== $$b"; HF_HUB_OFFLINE=1 $(PY) $$b || exit 1; done

worker: $(VENV)/.installed ## Only the background worker
	HF_HUB_OFFLINE=1 $(PY) manage.py worker

server: $(VENV)/.installed ## Only the web server (development)
	$(PY) manage.py runserver

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Tally needs Python 3.11 (Django 5.2 LTS, torch 2.13 CPU wheel)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# pip, not uv/poetry: torch==2.13.0 is taken from the local CPU wheel; the others would pull a
# multi-GB CUDA build. Reinstalls only when the requirements change.
$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@
