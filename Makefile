# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run demo test bench scheduler migrations install clean

$(STAMP): pyproject.toml
	@# Said before the quiet part, which takes about a minute the first time.
	@if test -x $(PY); then echo "Updating dependencies in $(VENV) (pyproject.toml changed)…"; \
	 else echo "Installing dependencies into $(VENV) (first run, about a minute)…"; fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
	@# Quiet when it works; on failure, run again with the full output to show why.
	@$(PY) -m pip install --quiet -e '.[test,bench]' >/dev/null 2>&1 || $(PY) -m pip install -e '.[test,bench]'
	@touch $(STAMP)
	@echo "Dependencies installed."

install: $(STAMP)

run: $(STAMP)
	@$(PY) -m bot

# A demo city in data/demo.sqlite3 (seeded once), explored in the terminal chat as its staff member.
DEMO_ENV := DATABASE_URL=sqlite://data/demo.sqlite3 BOT_TOKEN= REDIS_URL= STAFF_IDS=10001

demo: $(STAMP)
	@mkdir -p data
	@$(DEMO_ENV) $(PY) -m bot seed-demo --if-empty
	@$(DEMO_ENV) $(PY) -m bot

scheduler: $(STAMP)
	@$(PY) -m scheduler

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench
	$(PY) -m bench.notices

# After changing storage/models.py: write the next migration file.
migrations: $(STAMP)
	$(VENV)/bin/tortoise makemigrations

clean:
	rm -rf $(VENV) data/*.sqlite3* .pytest_cache
