# LiveInsight developer commands. `make local` runs it, `make test` tests it; both set up .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SDK_STAMP := sdk/node_modules/.installed

.PHONY: local traffic sdk test test-unit lint venv clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(SDK_STAMP): sdk/package.json sdk/package-lock.json
	cd sdk && npm ci --no-audit --no-fund --loglevel=error
	touch $(SDK_STAMP)

## Build the website SDK: sdk/dist/ and chalicelib/static/liveinsight.js (the copy the API serves).
sdk: $(SDK_STAMP)
	cd sdk && node build.mjs

## Run the local stack: the app on 127.0.0.1:8000 against an in-memory DynamoDB on 127.0.0.1:8001.
local: $(STAMP)
	$(PY) scripts/local_stack.py

## Send realistic demo visits to a running `make local` (another terminal), so the dashboard moves.
traffic: $(STAMP)
	$(PY) scripts/traffic.py

## Run every test: unit, integration (moto) and end-to-end (the real local stack over HTTP).
test: $(STAMP) $(SDK_STAMP)
	bash scripts/install_test_tools.sh
	cd sdk && node build.mjs --check && node --test test/
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

## Lint (ruff: pyflakes, pycodestyle, isort, bugbear, complexity <= 10).
lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache sdk/node_modules sdk/dist
