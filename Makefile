# Two commands on a fresh machine (only Python >= 3.11 and make needed):
#   make run    the app with demo data on http://localhost:5000 (Ctrl-C stops everything)
#   make test   the test suite on real Postgres and Redis
# Both use an embedded Postgres and Redis under .data/ unless DATABASE_URL / REDIS_URL are set
# (TEST_DATABASE_URL / TEST_REDIS_URL for tests).

# The Python runtime.txt names (what Heroku installs and CI tests) when this machine has it.
RUNTIME_PYTHON := python$(shell sed -n 's/^python-\([0-9]*\.[0-9]*\).*$$/\1/p' runtime.txt)
PYTHON ?= $(shell for p in $(RUNTIME_PYTHON) python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The suite runs in three processes (pytest-xdist), a test file at a time each, each on a database of
# its own: on a 2-core machine about twice as fast as one, since many tests wait on a worker or a server.
TEST_WORKERS ?= 3

.PHONY: run test lint bench clean help verify-sync connect manage vendor-slds screenshots

help:
	@echo "make run    start the app with demo data (embedded Postgres + Redis unless DATABASE_URL/REDIS_URL are set)"
	@echo "make test   run the test suite"
	@echo "make verify-sync   setup step 5 against make run's stack, every read-write mapping (OBJECT=Case: one)"
	@echo "make connect ARGS=pause   operate the local Connect (state, info, pause, resume, mapping:reload X, ...)"
	@echo "make manage ARGS='doctor'   any python manage.py command against the local stack (org, ports of make run)"
	@echo "make vendor-slds   re-vendor the pinned Lightning Design System into web/static/slds (needs npm)"
	@echo "make screenshots   retake every image under docs/images (its own stack and database; needs Debian's chromium)"
	@echo "make lint   ruff check"
	@echo "make clean  remove the virtualenv and the embedded servers' data"

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: $(STAMP)
	$(BIN)/python -m standins.run

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

verify-sync: $(STAMP)
	$(BIN)/python -m standins.run exec $(BIN)/python manage.py verify-sync $(if $(OBJECT),--object $(OBJECT))

# Joins make run's embedded database, like verify-sync: `make connect ARGS="mapping:reload Contact"`.
connect: $(STAMP)
	$(BIN)/python -m standins.run exec $(BIN)/python -m standins.connect $(ARGS)
manage: $(STAMP)
	$(BIN)/python -m standins.run exec $(BIN)/python manage.py $(ARGS)

vendor-slds: $(STAMP)
	$(BIN)/python -m tools.vendor_slds

# Starts its own stack (database connectapp_screenshots, free ports): `make run` may be running beside it.
screenshots: $(STAMP)
	$(BIN)/python -m tools.screenshots $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .data
