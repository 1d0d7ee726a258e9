# LiveInsight developer commands. `make local` runs it, `make test` tests it; both set up .venv.
# The Lambda runtime's Python (.python-version): the package is built with it and the tests run on it.
PYTHON ?= $(shell scripts/find_python.sh)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SDK_STAMP := sdk/node_modules/.installed
# checkov pins many packages of its own: it lives in a virtualenv of its own.
CHECKOV_STAMP := .venv-checkov/.installed
# The country database (deploy/geo.py: pinned npm package, checked against its integrity).
GEO_DB := build/geo/country.mmdb
STAGE ?= prod

.PHONY: local traffic screenshots sdk test test-unit lint venv clean package verify preflight plan deploy rollback destroy ops-check bench sql key-create keys key-revoke share-create share-revoke

$(STAMP): requirements.txt requirements-lake.txt requirements-dev.txt .python-version
	@test -n "$(PYTHON)" || { echo "No Python $$(cat .python-version) found (see above)"; exit 1; }
	@# A venv of another Python (an older .python-version) is made anew; otherwise it is updated in place.
	@[ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$$(cat .python-version)" ] \
		|| { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet "pip>=24,<26.3"  # chalice 1.34 needs pip < 26.3 to build its package
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(GEO_DB): deploy/geo.py | $(STAMP)
	$(PY) -m deploy.geo

$(SDK_STAMP): sdk/package.json sdk/package-lock.json
	cd sdk && npm ci --no-audit --no-fund --loglevel=error
	touch $(SDK_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

## Build the website SDK: sdk/dist/ and chalicelib/static/liveinsight.js (the copy the API serves).
sdk: $(SDK_STAMP)
	cd sdk && node build.mjs

## Run the local stack: the app on 127.0.0.1:8000 against an in-memory DynamoDB on 127.0.0.1:8001.
local: $(STAMP) $(GEO_DB)
	$(PY) scripts/local_stack.py

## Send realistic demo visits to a running `make local` (another terminal), so the dashboard moves.
traffic: $(STAMP)
	$(PY) scripts/traffic.py

## The dashboard's pictures in docs/screenshots/ (README): a stack of its own on free ports, a seeded week of
## `make traffic`'s visits, Debian's Chromium at desktop and phone width.
screenshots: $(STAMP) $(GEO_DB)
	$(PY) scripts/screenshots.py

## Run every test: unit, integration (moto) and end-to-end (the real local stack over HTTP).
test: $(STAMP) $(SDK_STAMP) $(CHECKOV_STAMP) $(GEO_DB)
	bash scripts/install_test_tools.sh
	cd sdk && node build.mjs --check && node --test test/
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP) $(GEO_DB)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

## Lint (ruff: pyflakes, pycodestyle, isort, bugbear, complexity <= 10).
lint: $(STAMP)
	$(VENV)/bin/ruff check .

## Speed, memory and cost per page view beside the baseline (bench/results.json, docs/performance.md).
bench: $(STAMP) $(GEO_DB)
	$(PY) bench/run.py

## A SQL prompt on the event lake: DuckDB over `make local`'s lake (SQL_ARGS="--site demo --days 7" limits what
## is copied), or Athena for a deployed stage (make sql STAGE=prod, LIVEINSIGHT_ATHENA_WORKGROUP/DATABASE exported).
sql: $(STAMP)
	$(PY) scripts/lake_sql.py --stage $(if $(filter command line environment,$(origin STAGE)),$(STAGE),local) $(SQL_ARGS)

## API keys and shared links of the read API (docs/access.md), in make local's DynamoDB (the default here) or a
## deployed stage's (STAGE=prod, your AWS credentials). make key-create SITE=demo [SCOPES=stats,personal_data]
## [LABEL=...] prints the key once; make keys lists them (no secrets); make key-revoke ID=...;
## make share-create SITE=demo [PASSWORD=1 asks for one] prints the link once; make share-revoke ID=...
ACCESS := $(PY) scripts/access.py --stage $(if $(filter command line environment,$(origin STAGE)),$(STAGE),local)
quoted = '$(subst ','\'',$(1))'
key-create: $(STAMP)
	$(ACCESS) key-create --site $(call quoted,$(SITE)) --scopes $(call quoted,$(or $(SCOPES),stats)) --label $(call quoted,$(LABEL))
keys: $(STAMP)
	@$(ACCESS) keys
key-revoke: $(STAMP)
	$(ACCESS) key-revoke --id $(call quoted,$(ID))
share-create: $(STAMP)
	$(ACCESS) share-create --site $(call quoted,$(SITE)) --label $(call quoted,$(LABEL)) $(if $(PASSWORD),--password)
share-revoke: $(STAMP)
	$(ACCESS) share-revoke --id $(call quoted,$(ID))

## Terraform for a stage, ready to plan: build/terraform/$(STAGE) (Chalice's, fixed, and ours).
package: $(STAMP)
	$(PY) deploy/package.py $(STAGE)

## The packaged stage checked offline as AWS would: every argument against the AWS provider's schema,
## and every handler of deployment.zip invoked in a clean Python 3.13 runtime (the tests run both).
verify: package
	$(PY) -m deploy.verify.provider_schema terraform build/terraform/$(STAGE)
	$(PY) -m deploy.verify.lambda_check build/terraform/$(STAGE)

## What a deploy of $(STAGE) still lacks (offline): credentials, state bucket, token, sites, alarm e-mails, tools.
preflight: $(STAMP)
	$(PY) -m deploy preflight --stage $(STAGE)

## Deploy and operate a stage (needs AWS credentials; see docs/operations.md). Each runs the preflight first.
plan: $(STAMP)
	$(PY) -m deploy plan --stage $(STAGE)

deploy: $(STAMP)
	$(PY) -m deploy deploy --stage $(STAGE)

rollback: $(STAMP)
	$(PY) -m deploy rollback --stage $(STAGE) $(if $(RELEASE),--release $(RELEASE))

destroy: $(STAMP)
	$(PY) -m deploy destroy --stage $(STAGE)

ops-check: $(STAMP)
	$(PY) -m deploy.ops_check --stage $(STAGE)

clean:
	rm -rf $(VENV) .venv-checkov .pytest_cache sdk/node_modules sdk/dist build
